//! Topic settings by Kafka's names (`--config key=value`, as Kafka's
//! `kafka-topics --config` takes them), checked against Kafka's ranges
//! before anything is sent, so a mistake is named with the rule it breaks.

use logbus::client::TopicConfig;
use logbus::protocol::CleanupPolicy;

/// Kafka's lower bound of `segment.bytes` (a batch header), as the broker
/// checks it.
pub const MIN_SEGMENT_BYTES: i64 = 14;

/// The settings `--config` takes, with what each accepts.
pub const SETTINGS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete, compact or compact,delete"),
    ("retention.ms", "milliseconds, -1 keeps forever"),
    ("retention.bytes", "bytes per partition, -1 for no limit"),
    ("segment.bytes", "14 to 2147483647"),
    ("segment.ms", "milliseconds, at least 1"),
    ("max.message.bytes", "0 to 2147483647"),
    ("min.compaction.lag.ms", "milliseconds, at least 0"),
    ("delete.retention.ms", "milliseconds, at least 0"),
];

/// Kafka topic settings logbus does not have (named so the refusal is clear).
const KAFKA_ONLY: &[&str] = &[
    "compression.type",
    "min.insync.replicas",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "message.timestamp.type",
    "unclean.leader.election.enable",
    "preallocate",
];

/// A `key=value` pair of `--config`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn number(key: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value
        .parse()
        .map_err(|e| format!("{key}={value}: not a whole number ({e})"))?;
    if !(min..=max).contains(&n) {
        let rule = SETTINGS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, rule)| rule);
        return Err(format!("{key}={value} is out of range: {rule}"));
    }
    Ok(n)
}

/// Sets `key` to `value` in `config`, with Kafka's names and ranges.
///
/// # Errors
/// An unknown key (listing the known ones), or a value Kafka would refuse.
pub fn apply(config: &mut TopicConfig, key: &str, value: &str) -> Result<(), String> {
    let int = i64::from(i32::MAX);
    match key {
        "cleanup.policy" => {
            let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
            parts.sort_unstable();
            parts.dedup();
            config.cleanup_policy = Some(match parts.as_slice() {
                ["delete"] => CleanupPolicy::Delete,
                ["compact"] => CleanupPolicy::Compact,
                ["compact", "delete"] => CleanupPolicy::CompactDelete,
                _ => {
                    return Err(format!(
                        "cleanup.policy={value}: expected delete, compact or compact,delete"
                    ));
                }
            });
        }
        "retention.ms" => config.retention_ms = Some(number(key, value, -1, i64::MAX)?),
        "retention.bytes" => config.retention_bytes = Some(number(key, value, -1, i64::MAX)?),
        "segment.bytes" => {
            config.segment_bytes = Some(number(key, value, MIN_SEGMENT_BYTES, int)?);
        }
        "segment.ms" => config.segment_ms = Some(number(key, value, 1, i64::MAX)?),
        "max.message.bytes" => {
            let n = number(key, value, 0, int)?;
            config.max_message_bytes = Some(i32::try_from(n).unwrap_or(i32::MAX));
        }
        "min.compaction.lag.ms" => {
            config.min_compaction_lag_ms = Some(number(key, value, 0, i64::MAX)?);
        }
        "delete.retention.ms" => {
            config.delete_retention_ms = Some(number(key, value, 0, i64::MAX)?);
        }
        _ if KAFKA_ONLY.contains(&key) => {
            return Err(format!("{key} is a Kafka setting logbus does not have"));
        }
        _ => {
            let known: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown topic setting {key:?}; known: {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Every setting of `config` as `key=value` with Kafka's names, in
/// [`SETTINGS`] order; unset ones read `default`.
pub fn describe(config: &TopicConfig) -> Vec<String> {
    let show = |v: Option<i64>| v.map_or("default".to_owned(), |v| v.to_string());
    let policy = match config.cleanup_policy {
        Some(CleanupPolicy::Compact) => "compact",
        Some(CleanupPolicy::CompactDelete) => "compact,delete",
        Some(CleanupPolicy::Delete) | None => "delete",
    };
    let values = [
        policy.to_owned(),
        show(config.retention_ms),
        show(config.retention_bytes),
        show(config.segment_bytes),
        show(config.segment_ms),
        show(config.max_message_bytes.map(i64::from)),
        show(config.min_compaction_lag_ms),
        show(config.delete_retention_ms),
    ];
    SETTINGS
        .iter()
        .zip(values)
        .map(|((key, _), value)| format!("{key}={value}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_set_their_fields_and_read_back() {
        let mut c = TopicConfig::default();
        for (k, v) in [
            ("cleanup.policy", "delete,compact"),
            ("retention.ms", "-1"),
            ("retention.bytes", "1000"),
            ("segment.bytes", "1048576"),
            ("segment.ms", "60000"),
            ("max.message.bytes", "2000000"),
            ("min.compaction.lag.ms", "0"),
            ("delete.retention.ms", "5"),
        ] {
            apply(&mut c, k, v).unwrap();
        }
        assert_eq!(
            describe(&c).join(" "),
            "cleanup.policy=compact,delete retention.ms=-1 retention.bytes=1000 \
             segment.bytes=1048576 segment.ms=60000 max.message.bytes=2000000 \
             min.compaction.lag.ms=0 delete.retention.ms=5"
        );
    }

    #[test]
    fn values_kafka_refuses_are_refused_with_the_rule() {
        let mut c = TopicConfig::default();
        let err = apply(&mut c, "segment.bytes", "1").unwrap_err();
        assert!(err.contains("14 to 2147483647"), "{err}");
        assert!(apply(&mut c, "segment.ms", "0").is_err());
        assert!(apply(&mut c, "retention.ms", "-2").is_err());
        assert!(apply(&mut c, "cleanup.policy", "keep").is_err());
        assert!(
            apply(&mut c, "compression.type", "zstd")
                .unwrap_err()
                .contains("does not have")
        );
        assert!(
            apply(&mut c, "segment.byte", "1")
                .unwrap_err()
                .contains("known: cleanup.policy")
        );
        assert_eq!(c, TopicConfig::default(), "nothing set by a refused value");
    }
}
