module github.com/tcpconn/telegraf-tcpconn

go 1.25.0

require (
	github.com/influxdata/telegraf v1.37.2 // indirect
	github.com/prometheus/procfs v0.23.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
