module github.com/ssmkit/ssmkit

go 1.26
