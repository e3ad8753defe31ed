module github.com/pushmap/pushmap/bench

go 1.26

require (
	github.com/coder/websocket v1.8.15
	github.com/pushmap/pushmap v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
)

require (
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/tidwall/geoindex v1.7.0 // indirect
	github.com/tidwall/rtree v1.10.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)

replace github.com/pushmap/pushmap => ../
