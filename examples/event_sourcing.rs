//! Bank accounts as an event-sourced aggregate on an embedded logbus broker.
//!
//! Commands append `Deposited`/`Withdrawn` events keyed by account (headers
//! carry a correlation id and a W3C `traceparent`); a consumer group of two
//! members builds the balance projection and publishes each new balance to
//! the `balances` topic (meant to be compacted: latest balance per account);
//! after a broker restart the projection is rebuilt by replaying `accounts`
//! from offset 0, and it must equal the latest balances in `balances`.
//!
//! Run: `cargo run --example event_sourcing`

use logbus::broker::client::{Consumer, ConsumerConfig, Producer, ProducerConfig};
use logbus::broker::{
    Broker, BrokerConfig, FetchRequest, ProduceRecord, Subscription, TopicConfig, decode_records,
};
use std::collections::BTreeMap;

const ACCOUNTS: usize = 20;
const COMMANDS: usize = 2_000;

/// An account event, encoded as `D:amount` or `W:amount`.
fn event(i: usize) -> (String, String) {
    let account = format!("acct-{:02}", (i * 7) % ACCOUNTS);
    let amount = (i % 13 + 1) * 10;
    let kind = if i % 3 == 2 { "W" } else { "D" };
    (account, format!("{kind}:{amount}"))
}

fn apply(balances: &mut BTreeMap<String, i64>, account: &str, event: &str) {
    let (kind, amount) = event.split_once(':').expect("kind:amount");
    let amount: i64 = amount.parse().expect("amount");
    let balance = balances.entry(account.to_owned()).or_default();
    *balance += if kind == "D" { amount } else { -amount };
}

fn text(b: &Option<bytes::Bytes>) -> String {
    String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
}

/// Reads a whole topic from offset 0, partition by partition.
fn replay(broker: &Broker, topic: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for p in 0..broker.partition_count(topic)? {
        let mut next = 0;
        loop {
            let mut r = broker.fetch_now(&FetchRequest::one(topic, p, next, 1 << 20));
            let data = r.remove(0).result?;
            let records = decode_records(&data.records)?;
            if records.is_empty() {
                break;
            }
            let from = next;
            for r in records.into_iter().filter(|r| r.offset >= from) {
                next = r.offset + 1;
                out.push((text(&r.key), text(&r.value)));
            }
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = Broker::open(BrokerConfig::dir(dir.path()))?;
    broker.create_topic("accounts", TopicConfig::with_partitions(4))?;
    broker.create_topic("balances", TopicConfig::compacted(2))?;

    // Commands → events, keyed by account so each account's events stay in order.
    let producer = Producer::new(&broker, ProducerConfig::default())?;
    let events: Vec<ProduceRecord> = (0..COMMANDS)
        .map(|i| {
            let (account, body) = event(i);
            ProduceRecord::keyed(account, body)
                .header("correlation-id", format!("cmd-{i}"))
                .header(
                    "traceparent",
                    format!("00-{:032x}-{:016x}-01", i + 1, i + 1),
                )
        })
        .collect();
    for chunk in events.chunks(250) {
        producer.send_all("accounts", chunk.to_vec())?;
    }
    println!("appended {COMMANDS} events for {ACCOUNTS} accounts to `accounts` (4 partitions)");

    // Two members of one group share the partitions and project balances.
    let config = ConsumerConfig::new("projection", Subscription::topic("accounts"));
    let mut members = [
        Consumer::join(&broker, config.clone())?,
        Consumer::join(&broker, config)?,
    ];
    let publisher = Producer::new(&broker, ProducerConfig::default())?;
    let mut projection = BTreeMap::new();
    let mut seen = 0;
    while seen < COMMANDS {
        for member in &mut members {
            let records = member.poll()?;
            let mut updates = Vec::new();
            for r in &records {
                let account = text(&r.key);
                apply(&mut projection, &account, &text(&r.value));
                updates.push(ProduceRecord::keyed(
                    account.clone(),
                    projection[&account].to_string(),
                ));
            }
            if !updates.is_empty() {
                publisher.send_all("balances", updates)?;
            }
            // Commit only after the balances were published: at-least-once.
            member.commit()?;
            seen += records.len();
        }
    }
    let split: Vec<usize> = members.iter().map(|m| m.assignment().len()).collect();
    println!("group `projection`: 2 members owning {split:?} partitions projected {seen} events");
    for member in members {
        member.close()?;
    }
    let lag = broker.describe_group("projection")?.total_lag;
    broker.close()?;

    // Restart, rebuild by replay from offset 0, compare with `balances`.
    let broker = Broker::open(BrokerConfig::dir(dir.path()))?;
    let mut rebuilt = BTreeMap::new();
    for (account, body) in replay(&broker, "accounts")? {
        apply(&mut rebuilt, &account, &body);
    }
    let latest: BTreeMap<String, i64> = replay(&broker, "balances")?
        .into_iter()
        .map(|(k, v)| Ok((k, v.parse()?)))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        rebuilt == projection,
        "replay differs from the live projection"
    );
    anyhow::ensure!(rebuilt == latest, "replay differs from the balances topic");
    let total: i64 = rebuilt.values().sum();
    println!(
        "restarted: replay of `accounts` from offset 0 rebuilt {} balances (total {total})",
        rebuilt.len()
    );
    println!(
        "replayed projection == latest per key in `balances`; group lag before restart: {lag}"
    );
    broker.close()?;
    Ok(())
}
