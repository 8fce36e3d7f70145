module github.com/bookerhq/booker

go 1.26.8

require github.com/gofrs/flock v0.13.1

require golang.org/x/sys v0.48.0 // indirect
