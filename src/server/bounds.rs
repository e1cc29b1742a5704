//! Request shapes refused before any broker call: a request that lists
//! more partitions (or topic or group names) than `max_request_partitions`,
//! or that lists the same partition (or name) twice. Both are answered
//! with a header-level `INVALID_REQUEST`, so the response stays a few bytes
//! whatever the request claimed; a response listing every entry of such a
//! request could outgrow the frame limit (one partition listed 524,284
//! times in an 8 MiB fetch would be answered with 13.6 MB).
//!
//! Kafka answers duplicates in ListOffsets with `INVALID_REQUEST` on the
//! duplicate partitions; a well-behaved client never sends them, so the
//! native protocol refuses the whole request instead of answering each.
//! Knows the protocol's request bodies only.

use crate::protocol::RequestBody;
use std::collections::HashSet;

/// Why a request was refused unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// It lists more entries than allowed.
    TooManyEntries { listed: usize, max: usize },
    /// It lists one entry twice.
    Duplicate {
        topic: String,
        partition: Option<i32>,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooManyEntries { listed, max } => {
                write!(
                    f,
                    "the request lists {listed} entries; at most {max} are allowed"
                )
            }
            Refused::Duplicate {
                topic,
                partition: Some(p),
            } => write!(f, "partition {p} of topic {topic:?} is listed twice"),
            Refused::Duplicate {
                topic,
                partition: None,
            } => write!(f, "{topic:?} is listed twice"),
        }
    }
}

/// Checks `body` against the bounds; counts first, so hashing is bounded.
pub(super) fn check(body: &RequestBody, max: usize) -> Result<(), Refused> {
    match body {
        RequestBody::Produce(r) => partitions(
            r.topics
                .iter()
                .map(|t| (t.name.as_str(), t.partitions.iter().map(|p| p.partition))),
            max,
        ),
        RequestBody::Fetch(r) => partitions(
            r.topics
                .iter()
                .map(|t| (t.name.as_str(), t.partitions.iter().map(|p| p.partition))),
            max,
        ),
        RequestBody::ListOffsets(r) => partitions(
            r.topics
                .iter()
                .map(|t| (t.name.as_str(), t.partitions.iter().map(|p| p.partition))),
            max,
        ),
        RequestBody::OffsetCommit(r) => partitions(
            r.topics
                .iter()
                .map(|t| (t.name.as_str(), t.partitions.iter().map(|p| p.partition))),
            max,
        ),
        RequestBody::OffsetFetch(r) => match &r.topics {
            Some(topics) => partitions(
                topics
                    .iter()
                    .map(|t| (t.topic.as_str(), t.partitions.iter().copied())),
                max,
            ),
            None => Ok(()),
        },
        RequestBody::ResetOffsets(r) => match &r.partitions {
            Some(ps) => partitions(std::iter::once((r.topic.as_str(), ps.iter().copied())), max),
            None => Ok(()),
        },
        RequestBody::CreateTopics(r) => names(r.topics.iter().map(|t| t.name.as_str()), max),
        RequestBody::DeleteTopics(r) => names(r.names.iter().map(String::as_str), max),
        RequestBody::DescribeTopics(r) => match &r.names {
            Some(n) => names(n.iter().map(String::as_str), max),
            None => Ok(()),
        },
        RequestBody::CreatePartitions(r) => names(r.topics.iter().map(|t| t.name.as_str()), max),
        RequestBody::DeleteGroups(r) => names(r.group_ids.iter().map(String::as_str), max),
        // A subscription may repeat a name harmlessly: only its length is bounded.
        RequestBody::JoinGroup(r) if r.topics.len() > max => Err(Refused::TooManyEntries {
            listed: r.topics.len(),
            max,
        }),
        _ => Ok(()),
    }
}

fn partitions<'a, P>(
    topics: impl Iterator<Item = (&'a str, P)> + Clone,
    max: usize,
) -> Result<(), Refused>
where
    P: Iterator<Item = i32>,
{
    let listed: usize = topics.clone().map(|(_, ps)| ps.count().max(1)).sum();
    if listed > max {
        return Err(Refused::TooManyEntries { listed, max });
    }
    let mut seen = HashSet::with_capacity(listed);
    for (topic, ps) in topics {
        for p in ps {
            if !seen.insert((topic, p)) {
                return Err(Refused::Duplicate {
                    topic: topic.to_owned(),
                    partition: Some(p),
                });
            }
        }
    }
    Ok(())
}

fn names<'a>(names: impl ExactSizeIterator<Item = &'a str>, max: usize) -> Result<(), Refused> {
    let listed = names.len();
    if listed > max {
        return Err(Refused::TooManyEntries { listed, max });
    }
    let mut seen = HashSet::with_capacity(listed);
    for name in names {
        if !seen.insert(name) {
            return Err(Refused::Duplicate {
                topic: name.to_owned(),
                partition: None,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};

    fn fetch(partitions: &[(&str, i32)]) -> RequestBody {
        FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            group_id: None,
            topics: partitions
                .iter()
                .map(|(t, p)| FetchTopic {
                    name: (*t).into(),
                    partitions: vec![FetchPartition {
                        partition: *p,
                        fetch_offset: 0,
                        partition_max_bytes: 1024,
                    }],
                })
                .collect(),
            member: Default::default(),
        }
        .into()
    }

    #[test]
    fn a_partition_listed_twice_is_refused_even_under_two_topic_entries() {
        assert_eq!(check(&fetch(&[("a", 0), ("a", 1), ("b", 0)]), 10), Ok(()));
        assert_eq!(
            check(&fetch(&[("a", 0), ("b", 0), ("a", 0)]), 10),
            Err(Refused::Duplicate {
                topic: "a".into(),
                partition: Some(0)
            })
        );
    }

    #[test]
    fn more_entries_than_the_bound_are_refused_before_any_hashing() {
        assert_eq!(
            check(&fetch(&[("a", 0), ("a", 1), ("a", 2)]), 2),
            Err(Refused::TooManyEntries { listed: 3, max: 2 })
        );
    }
}
