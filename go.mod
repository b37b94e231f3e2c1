module github.com/loomhq/loom

go 1.26.8

require (
	github.com/google/uuid v1.6.0
	github.com/netresearch/go-cron v0.9.1
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/kr/text v0.2.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
