//go:build !custom || inputs || inputs.tcpconn

// This file goes into Telegraf's plugins/inputs/all, beside the files that
// register its own inputs, to compile tcpconn into Telegraf; the build
// constraint is theirs, so that -tags custom,inputs.tcpconn selects it.
// make bin/telegraf-tcpconn builds Telegraf this way, and the end-to-end
// tests run the result.

package all

import _ "github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn" // register plugin
