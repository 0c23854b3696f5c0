module github.com/ssmkit/ssmkit

go 1.26.0

require github.com/google/go-cmp v0.7.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
