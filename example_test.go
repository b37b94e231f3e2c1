package loom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// The seed's DataIngestionTask: a task type is a name and a handler.
var dataIngestionTask = loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
	source, _ := in["data_source"].(string)
	fmt.Printf("Ingesting data from: %s\n", source)
	if source == "invalid" {
		// Bad input will not get better by retrying.
		return nil, loom.Permanent(errors.New("Invalid data source provided."))
	}
	return loom.Values{"ingested_data": map[string]any{
		"source":  source,
		"records": "alice,bob",
	}}, nil
})

func ExampleTask_Run() {
	ctx := context.Background()
	ingest := loom.NewTask("IngestFromS3", dataIngestionTask)

	res, _ := ingest.Run(ctx, loom.Values{"data_source": "s3://my-bucket/data.csv"})
	fmt.Printf("Task status: %s, Result: %v\n", res.Status, res.Output)

	res, err := ingest.Run(ctx, loom.Values{"data_source": "invalid"})
	fmt.Printf("Task status: %s, Error: %s\n", res.Status, res.Message)
	var runErr *loom.RunError
	fmt.Println("RunError:", errors.As(err, &runErr))
	// Output:
	// Ingesting data from: s3://my-bucket/data.csv
	// Task status: completed, Result: map[ingested_data:map[records:alice,bob source:s3://my-bucket/data.csv]]
	// Ingesting data from: invalid
	// Task status: failed, Error: Invalid data source provided.
	// RunError: true
}

// The seed's DataProcessingWorkflow: three steps wired by what they
// require and provide, run with a SyncExecutor.
func Example_etlWorkflow() {
	cleaning := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		data := in["input_data"].(map[string]any)
		fmt.Printf("Cleaning data: %v\n", data)
		cleaned := make(map[string]any, len(data))
		for k, v := range data {
			cleaned[k] = strings.ToUpper(v.(string))
		}
		return loom.Values{"cleaned_data": cleaned}, nil
	})
	storage := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		fmt.Printf("Storing data: %v\n", in["data_to_store"])
		return loom.Values{"storage_path": "/data/cleaned"}, nil
	})

	workflow, err := loom.NewFlow("ETLWorkflow", loom.FlowDef{
		Inputs: []string{"data_source"},
		Steps: []loom.Step{
			{
				Task:     loom.NewTask("IngestData", dataIngestionTask),
				Provides: map[string]string{"ingested_data": "raw_data"},
			},
			{
				Task:     loom.NewTask("CleanData", cleaning),
				Requires: map[string]string{"input_data": "raw_data"},
				Provides: map[string]string{"cleaned_data": "processed_data"},
			},
			{
				Task:     loom.NewTask("StoreData", storage),
				Requires: map[string]string{"data_to_store": "processed_data"},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	executor := loom.NewSyncExecutor(loom.Config{})
	res, _ := executor.Execute(context.Background(), workflow, loom.Values{"data_source": "s3://my-bucket/raw.csv"})

	fmt.Printf("Workflow status: %s\n", res.Status)
	if res.Completed() {
		fmt.Printf("Final output: %v\n", res.Output)
	}
	for _, step := range workflow.Handler.(*loom.Flow).Order() {
		fmt.Printf("%s: %s\n", step, res.Steps[step].Status)
	}
	// Output:
	// Ingesting data from: s3://my-bucket/raw.csv
	// Cleaning data: map[records:alice,bob source:s3://my-bucket/raw.csv]
	// Storing data: map[records:ALICE,BOB source:S3://MY-BUCKET/RAW.CSV]
	// Workflow status: completed
	// Final output: map[processed_data:map[records:ALICE,BOB source:S3://MY-BUCKET/RAW.CSV] raw_data:map[records:alice,bob source:s3://my-bucket/raw.csv]]
	// IngestData: completed
	// CleanData: completed
	// StoreData: completed
}

// The seed's UnreliableServiceCallTask: it fails twice, and a retry policy
// of three attempts with exponential backoff gets it through. A fake clock
// skips the backoff so the example does not wait three seconds.
func Example_retryPolicy() {
	attempts := 0
	unreliable := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		attempts++
		fmt.Printf("Attempt %d to call %s\n", attempts, in["endpoint"])
		if attempts < 3 {
			fmt.Println("Simulating transient failure...")
			return nil, errors.New("Service temporarily unavailable.")
		}
		fmt.Println("Service call successful.")
		return loom.Values{"response": fmt.Sprintf("Data from %s", in["endpoint"])}, nil
	})
	task := &loom.Task{
		Name:    "CallExternalAPI",
		Handler: unreliable,
		Retry:   &loom.RetryPolicy{MaxAttempts: 3, BackoffFactor: 2, InitialDelay: time.Second},
	}

	ctx := context.Background()
	clock := loomtest.NewFakeClock(time.Time{})
	stop := clock.AutoAdvance(ctx, 0)
	defer stop()
	executor := loom.NewSyncExecutor(loom.Config{Clock: clock})

	fmt.Println("Executing unreliable task with retry policy...")
	res, _ := executor.Execute(ctx, task, loom.Values{"endpoint": "api.example.com/data"})

	fmt.Printf("Final task status: %s\n", res.Status)
	if res.Completed() {
		fmt.Printf("Final task output: %v\n", res.Output)
	}
	fmt.Printf("Attempts: %d, backoff waited: %s\n", res.Attempts, res.Duration())
	// Output:
	// Executing unreliable task with retry policy...
	// Attempt 1 to call api.example.com/data
	// Simulating transient failure...
	// Attempt 2 to call api.example.com/data
	// Simulating transient failure...
	// Attempt 3 to call api.example.com/data
	// Service call successful.
	// Final task status: completed
	// Final task output: map[response:Data from api.example.com/data]
	// Attempts: 3, backoff waited: 3s
}

// Independent branches of a flow run at the same time: both lookups start
// together, and the report waits for both.
func ExampleParallelExecutor() {
	lookup := func(what string) *loom.Task {
		return loom.NewTask("lookup-"+what, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			return loom.Values{"value": what + " of " + in["user"].(string)}, nil
		}))
	}
	report := loom.NewTask("report", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"text": fmt.Sprintf("%s; %s", in["profile"], in["orders"])}, nil
	}))
	flow, err := loom.NewFlow("user-report", loom.FlowDef{
		Inputs: []string{"user"},
		Steps: []loom.Step{
			{Task: lookup("profile"), Provides: map[string]string{"value": "profile"}},
			{Task: lookup("orders"), Provides: map[string]string{"value": "orders"}},
			{
				Task:     report,
				Requires: map[string]string{"profile": "profile", "orders": "orders"},
				Provides: map[string]string{"text": "report"},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	executor := loom.NewParallelExecutor(loom.Config{Parallelism: 4})
	res, err := executor.Execute(context.Background(), flow, loom.Values{"user": "ada"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Output["report"])
	fmt.Println(flow.Handler.(*loom.Flow).Steps()[2].DependsOn)
	// Output:
	// profile of ada; orders of ada
	// [lookup-profile lookup-orders]
}

// Start returns at once with a Handle; the run goes on in the background.
func ExampleAsyncExecutor() {
	release := make(chan struct{})
	slow := loom.NewTask("slow-io", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		select {
		case <-release:
			return loom.Values{"bytes": 512}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))

	executor := loom.NewAsyncExecutor(loom.Config{})
	ctx := context.Background()
	h, err := executor.Start(ctx, slow, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	select {
	case <-h.Done():
		fmt.Println("done too early")
	default:
		fmt.Println("started; still running")
	}
	close(release)
	res, err := h.Wait(ctx)
	fmt.Println(res.Status, res.Output["bytes"], err)
	// Output:
	// started; still running
	// completed 512 <nil>
}

// Fan-out maps a task over a list produced at run time; the next step fans
// in by requiring the results.
func Example_fanOut() {
	list := loom.NewTask("list-files", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"files": []string{"a.csv", "b.csv", "c.csv"}}, nil
	}))
	count := loom.NewTask("count-rows", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		name := in["file"].(string)
		return loom.Values{"rows": len(name) * int(in["scale"].(int))}, nil
	}))
	sum := loom.NewTask("sum", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		total := 0
		for _, r := range in["counts"].([]any) {
			total += r.(loom.Values)["rows"].(int)
		}
		return loom.Values{"total": total}, nil
	}))
	flow, err := loom.NewFlow("row-count", loom.FlowDef{
		Inputs: []string{"scale"},
		Steps: []loom.Step{
			{Task: list, Provides: map[string]string{"files": "files"}},
			{
				Task:     count,
				Requires: map[string]string{"files": "files", "scale": "scale"},
				FanOut:   &loom.FanOut{Over: "files", As: "file", Parallelism: 2},
				Provides: map[string]string{"results": "counts"},
			},
			{Task: sum, Requires: map[string]string{"counts": "counts"}, Provides: map[string]string{"total": "total"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := loom.NewParallelExecutor(loom.Config{}).Execute(context.Background(), flow, loom.Values{"scale": 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("total rows:", res.Output["total"])
	// Output:
	// total rows: 150
}

// When a step fails, the steps that completed are undone in reverse order:
// a saga.
func Example_compensation() {
	step := func(name string, fail bool) *loom.Task {
		return loom.NewTask(name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			if fail {
				return nil, loom.Permanent(errors.New("card declined"))
			}
			fmt.Println("did", name)
			return loom.Values{name + "_id": name + "-1"}, nil
		}))
	}
	undo := func(name string) *loom.Task {
		return loom.NewTask("undo-"+name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			fmt.Println("undid", name, in[name+"_id"])
			return nil, nil
		}))
	}
	flow, err := loom.NewFlow("book-trip", loom.FlowDef{
		Steps: []loom.Step{
			{Task: step("flight", false), Compensate: undo("flight"), Provides: map[string]string{"flight_id": "flight"}},
			{Task: step("hotel", false), Compensate: undo("hotel"), DependsOn: []string{"flight"}},
			{Task: step("payment", true), DependsOn: []string{"hotel"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(context.Background(), flow, nil)
	fmt.Println(res.Status, "-", err)
	fmt.Println("hotel.compensate:", res.Steps["hotel.compensate"].Status)
	// Output:
	// did flight
	// did hotel
	// undid hotel hotel-1
	// undid flight flight-1
	// failed - book-trip failed after 1 attempt(s): step "payment": card declined
	// hotel.compensate: completed
}
