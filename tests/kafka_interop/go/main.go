// Command franzgo runs franz-go's kgo (producer and group consumer) and kadm
// against KAFKA_BOOTSTRAP. It prints one line per scenario and closes with
// "franz_go: N passed, N failed", exiting 1 if any failed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	bootstrap = envOr("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
	runID     = randomID()
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func topic(name string) string { return "interop-franz-" + name + "-" + runID }

func ctx30() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func createTopic(adm *kadm.Client, name string, partitions int32) error {
	ctx, cancel := ctx30()
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err != nil {
		return err
	}
	return resp.Err
}

// Produces with the idempotent producer (franz-go's default) in each codec,
// with headers, and reads the records back with a group consumer.
func produceEachCodecThenGroupConsume(adm *kadm.Client) error {
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	names := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	for _, name := range names {
		t := topic("codec-" + name)
		if err := createTopic(adm, t, 1); err != nil {
			return fmt.Errorf("%s: create: %w", name, err)
		}
		p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ProducerBatchCompression(codecs[name]),
			kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			return err
		}
		var records []*kgo.Record
		for i := 0; i < 20; i++ {
			records = append(records, &kgo.Record{
				Topic: t, Key: []byte(fmt.Sprintf("k%d", i)),
				Value:   []byte(fmt.Sprintf("value-%d-%s", i, strings.Repeat(name, 20))),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
			})
		}
		ctx, cancel := ctx30()
		results := p.ProduceSync(ctx, records...)
		cancel()
		p.Close()
		if err := results.FirstErr(); err != nil {
			return fmt.Errorf("%s: produce: %w", name, err)
		}
		for i, r := range results {
			if r.Record.Offset != int64(i) {
				return fmt.Errorf("%s: record %d at offset %d", name, i, r.Record.Offset)
			}
		}
		c, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(t), kgo.ConsumerGroup(topic("codec-"+name)),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			return err
		}
		var got []*kgo.Record
		deadline := time.Now().Add(30 * time.Second)
		for len(got) < 20 && time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			fetches := c.PollFetches(ctx)
			cancel()
			fetches.EachRecord(func(r *kgo.Record) { got = append(got, r) })
		}
		c.Close()
		if len(got) != 20 {
			return fmt.Errorf("%s: read back %d records", name, len(got))
		}
		for i, r := range got {
			if string(r.Value) != string(records[i].Value) || string(r.Key) != string(records[i].Key) ||
				len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) {
				return fmt.Errorf("%s: record %d read back as %q/%q", name, i, r.Key, r.Value)
			}
		}
	}
	return nil
}

// Two group members split four partitions, consume everything, commit; after
// one leaves the other owns all four; a restarted member resumes after the
// committed offsets.
func groupRebalanceCommitResume(adm *kadm.Client) error {
	t, g := topic("group"), topic("group")
	if err := createTopic(adm, t, 4); err != nil {
		return err
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer p.Close()
	var records []*kgo.Record
	for i := 0; i < 40; i++ {
		records = append(records, &kgo.Record{Topic: t, Partition: int32(i % 4), Value: []byte(fmt.Sprint(i))})
	}
	ctx, cancel := ctx30()
	err = p.ProduceSync(ctx, records...).FirstErr()
	cancel()
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	var mu sync.Mutex
	assigned := map[string]map[int32]bool{}
	member := func(name string) (*kgo.Client, error) {
		track := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				if assigned[name] == nil {
					assigned[name] = map[int32]bool{}
				}
				for _, part := range ps[t] {
					if add {
						assigned[name][part] = true
					} else {
						delete(assigned[name], part)
					}
				}
			}
		}
		return kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(t), kgo.ConsumerGroup(g),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.OnPartitionsAssigned(track(true)), kgo.OnPartitionsRevoked(track(false)), kgo.OnPartitionsLost(track(false)))
	}
	sizes := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(assigned["a"]), len(assigned["b"])
	}
	a, err := member("a")
	if err != nil {
		return err
	}
	b, err := member("b")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	poll := func(c *kgo.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fetches := c.PollFetches(ctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) { seen[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] = true })
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		poll(a)
		poll(b)
		if na, nb := sizes(); na == 2 && nb == 2 && len(seen) == 40 {
			break
		}
	}
	if na, nb := sizes(); na != 2 || nb != 2 {
		return fmt.Errorf("assignment sizes %d and %d, want 2 and 2", na, nb)
	}
	if len(seen) != 40 {
		return fmt.Errorf("group consumed %d of 40 records", len(seen))
	}
	ctx, cancel = ctx30()
	if err := a.CommitUncommittedOffsets(ctx); err != nil {
		cancel()
		return fmt.Errorf("commit a: %w", err)
	}
	if err := b.CommitUncommittedOffsets(ctx); err != nil {
		cancel()
		return fmt.Errorf("commit b: %w", err)
	}
	cancel()
	b.Close()
	a.Close()
	ctx, cancel = ctx30()
	offsets, err := adm.FetchOffsets(ctx, g)
	cancel()
	if err != nil {
		return fmt.Errorf("fetch offsets: %w", err)
	}
	for part := int32(0); part < 4; part++ {
		o, ok := offsets.Lookup(t, part)
		if !ok || o.At != 10 {
			return fmt.Errorf("committed offset of partition %d: %+v", part, o)
		}
	}
	ctx, cancel = ctx30()
	err = p.ProduceSync(ctx, &kgo.Record{Topic: t, Partition: 2, Value: []byte("after")}).FirstErr()
	cancel()
	if err != nil {
		return err
	}
	c, err := member("c")
	if err != nil {
		return err
	}
	defer c.Close()
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := c.PollFetches(ctx)
		cancel()
		var first *kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			if first == nil {
				first = r
			}
		})
		if first != nil {
			if string(first.Value) != "after" || first.Offset != 10 || first.Partition != 2 {
				return fmt.Errorf("resumed at %d@%d %q", first.Partition, first.Offset, first.Value)
			}
			return nil
		}
	}
	return errors.New("the restarted member received nothing")
}

// kadm: list topics, describe configs, list and describe groups, delete a topic;
// creating an existing topic is TOPIC_ALREADY_EXISTS.
func adminTopicsAndGroups(adm *kadm.Client) error {
	t := topic("admin")
	if err := createTopic(adm, t, 2); err != nil {
		return err
	}
	ctx, cancel := ctx30()
	defer cancel()
	if err := createTopic(adm, t, 2); !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating it again: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	details, err := adm.ListTopics(ctx, t)
	if err != nil {
		return err
	}
	if d, ok := details[t]; !ok || len(d.Partitions) != 2 {
		return fmt.Errorf("listed %+v", details)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, t)
	if err != nil {
		return err
	}
	rc, err := configs.On(t, nil)
	if err != nil || rc.Err != nil {
		return fmt.Errorf("describe configs: %v %v", err, rc.Err)
	}
	var names []string
	for _, c := range rc.Configs {
		names = append(names, c.Key)
	}
	sort.Strings(names)
	if i := sort.SearchStrings(names, "retention.ms"); i == len(names) || names[i] != "retention.ms" {
		return fmt.Errorf("retention.ms not described: %v", names)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	_ = groups
	resp, err := adm.DeleteTopics(ctx, t)
	if err != nil {
		return err
	}
	if err := resp.Error(); err != nil {
		return err
	}
	return nil
}

func main() {
	only := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("INTEROP_ONLY"), ",") {
		if s != "" {
			only[s] = true
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		fmt.Println("franz_go: client:", err)
		os.Exit(1)
	}
	adm := kadm.NewClient(cl)
	scenarios := []struct {
		name string
		fn   func(*kadm.Client) error
	}{
		{"produce_each_codec_then_group_consume", produceEachCodecThenGroupConsume},
		{"group_rebalance_commit_resume", groupRebalanceCommitResume},
		{"admin_topics_and_groups", adminTopicsAndGroups},
	}
	passed, failed, skipped := 0, 0, 0
	for _, s := range scenarios {
		if len(only) > 0 && !only[s.name] {
			skipped++
			continue
		}
		start := time.Now()
		if err := s.fn(adm); err != nil {
			failed++
			fmt.Printf("FAIL franz_go.%s (%.1fs): %v\n", s.name, time.Since(start).Seconds(), err)
		} else {
			passed++
			fmt.Printf("ok   franz_go.%s (%.1fs)\n", s.name, time.Since(start).Seconds())
		}
	}
	cl.Close()
	line := fmt.Sprintf("franz_go: %d passed, %d failed", passed, failed)
	if skipped > 0 {
		line += fmt.Sprintf(", %d skipped", skipped)
	}
	fmt.Println(line)
	if failed > 0 {
		os.Exit(1)
	}
}
