module github.com/loomhq/loom

go 1.26.8
