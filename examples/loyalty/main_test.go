package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

const want = `Ann:
  loyalty API: GET /members/ann -> 200
  sms to +385911111111: Hi Ann, you have 1250 points (gold). Free shipping is yours!
  journal: lookup -> 2xx, tell-points -> sent; completed (told); points = 1250
Bob:
  loyalty API: GET /members/bob -> 200
  sms to +385922222222: Hi Bob, you have 80 points (bronze). 920 more for free shipping.
  journal: lookup -> 2xx, tell-points -> sent; completed (told); points = 80
Cid:
  loyalty API: GET /members/cid -> 404
  sms to +385933333333: Hi Cid, join our loyalty program and get 100 points today!
  journal: lookup -> 4xx, invite -> sent; completed (told); points = null
`

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, want, out.String())
}
