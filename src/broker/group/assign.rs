//! Broker-side partition assignment (as KIP-848 computes it on the
//! broker): range, round-robin, and a sticky strategy that keeps every
//! partition with its previous owner where the balance allows, so a
//! rebalance moves as few partitions as possible. Pure functions of the
//! members' subscriptions, the partition counts and the previous assignment.

use super::{AssignmentStrategy, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// Member id → topics it subscribes to (resolved, existing topics only).
pub(crate) type Subscriptions = BTreeMap<String, BTreeSet<String>>;
/// Member id → its partitions.
pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Assigns the partitions of `partitions` (topic → count) to `members`.
/// Every partition of a subscribed topic goes to exactly one subscriber;
/// every member appears in the result, possibly with nothing.
pub(crate) fn assign(
    strategy: AssignmentStrategy,
    members: &Subscriptions,
    partitions: &BTreeMap<String, u32>,
    previous: &Assignment,
) -> Assignment {
    let mut out: Assignment = members.keys().map(|m| (m.clone(), Vec::new())).collect();
    match strategy {
        AssignmentStrategy::Range => range(members, partitions, &mut out),
        AssignmentStrategy::RoundRobin => round_robin(members, partitions, &mut out),
        AssignmentStrategy::Sticky => sticky(members, partitions, previous, &mut out),
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

fn subscribers<'a>(members: &'a Subscriptions, topic: &str) -> Vec<&'a String> {
    members
        .iter()
        .filter(|(_, topics)| topics.contains(topic))
        .map(|(m, _)| m)
        .collect()
}

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition {
        topic: topic.to_owned(),
        partition,
    }
}

/// Kafka's range assignor: per topic, contiguous ranges, the first
/// `n % k` subscribers (by member id) taking one more.
fn range(members: &Subscriptions, partitions: &BTreeMap<String, u32>, out: &mut Assignment) {
    for (topic, &n) in partitions {
        let subs = subscribers(members, topic);
        if subs.is_empty() {
            continue;
        }
        let k = subs.len() as u32;
        let mut start = 0;
        for (i, m) in subs.into_iter().enumerate() {
            let count = n / k + u32::from((i as u32) < n % k);
            let list = out.get_mut(m).expect("every member has an entry");
            list.extend((start..start + count).map(|p| tp(topic, p)));
            start += count;
        }
    }
}

/// Kafka's round-robin assignor: all partitions in order, dealt to the
/// subscribed members in turn.
fn round_robin(members: &Subscriptions, partitions: &BTreeMap<String, u32>, out: &mut Assignment) {
    let ids: Vec<&String> = members.keys().collect();
    if ids.is_empty() {
        return;
    }
    let mut next = 0;
    for (topic, &n) in partitions {
        for p in 0..n {
            for step in 0..ids.len() {
                let i = (next + step) % ids.len();
                if members[ids[i]].contains(topic) {
                    out.get_mut(ids[i]).expect("member").push(tp(topic, p));
                    next = i + 1;
                    break;
                }
            }
        }
    }
}

/// Keeps previous owners up to a balanced quota, then gives every free
/// partition to its least-loaded subscriber.
fn sticky(
    members: &Subscriptions,
    partitions: &BTreeMap<String, u32>,
    previous: &Assignment,
    out: &mut Assignment,
) {
    let all: Vec<TopicPartition> = partitions
        .iter()
        .filter(|(t, _)| members.values().any(|s| s.contains(*t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| tp(t, p)))
        .collect();
    let active = members.values().filter(|s| !s.is_empty()).count();
    if active == 0 || all.is_empty() {
        return;
    }
    let floor = all.len() / active;
    let remainder = all.len() % active;
    let ceil = floor + usize::from(remainder > 0);
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    // 1. Keep what each member owned, if still valid, up to the ceiling.
    for (m, topics) in members {
        let Some(prev) = previous.get(m) else {
            continue;
        };
        let list = out.get_mut(m).expect("member");
        for p in prev {
            let valid = topics.contains(&p.topic)
                && partitions.get(&p.topic).is_some_and(|&n| p.partition < n);
            if valid && list.len() < ceil && taken.insert(p.clone()) {
                list.push(p.clone());
            }
        }
    }
    // 2. Only `remainder` members may sit at the ceiling: trim the others.
    let mut at_ceil = 0;
    for list in out.values_mut() {
        if ceil > floor && list.len() == ceil {
            at_ceil += 1;
            if at_ceil > remainder
                && let Some(p) = list.pop()
            {
                taken.remove(&p);
            }
        }
    }
    // 3. Free partitions go to the least-loaded subscriber.
    for p in all.into_iter().filter(|p| !taken.contains(p)) {
        let target = members
            .iter()
            .filter(|(_, topics)| topics.contains(&p.topic))
            .map(|(m, _)| m)
            .min_by_key(|m| (out[*m].len(), (*m).clone()))
            .cloned();
        if let Some(m) = target {
            out.get_mut(&m).expect("member").push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(ids: &[&str], topics: &[&str]) -> Subscriptions {
        ids.iter()
            .map(|m| {
                (
                    (*m).to_owned(),
                    topics.iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn counts(a: &Assignment) -> Vec<usize> {
        a.values().map(Vec::len).collect()
    }

    fn parts(topic: &str, n: u32) -> BTreeMap<String, u32> {
        [(topic.to_owned(), n)].into_iter().collect()
    }

    #[test]
    fn range_gives_contiguous_ranges_extra_to_the_first_members() {
        let a = assign(
            AssignmentStrategy::Range,
            &subs(&["a", "b", "c"], &["t"]),
            &parts("t", 7),
            &Assignment::new(),
        );
        let ps = |m: &str| a[m].iter().map(|p| p.partition).collect::<Vec<_>>();
        assert_eq!(
            (ps("a"), ps("b"), ps("c")),
            (vec![0, 1, 2], vec![3, 4], vec![5, 6])
        );
    }

    #[test]
    fn round_robin_deals_partitions_in_turn() {
        let a = assign(
            AssignmentStrategy::RoundRobin,
            &subs(&["a", "b"], &["t"]),
            &parts("t", 5),
            &Assignment::new(),
        );
        let ps = |m: &str| a[m].iter().map(|p| p.partition).collect::<Vec<_>>();
        assert_eq!((ps("a"), ps("b")), (vec![0, 2, 4], vec![1, 3]));
    }

    #[test]
    fn sticky_moves_only_the_partitions_of_a_member_that_left() {
        let p = parts("t", 6);
        let three = assign(
            AssignmentStrategy::Sticky,
            &subs(&["a", "b", "c"], &["t"]),
            &p,
            &Assignment::new(),
        );
        assert_eq!(counts(&three), vec![2, 2, 2]);
        let two = assign(
            AssignmentStrategy::Sticky,
            &subs(&["a", "b"], &["t"]),
            &p,
            &three,
        );
        assert_eq!(counts(&two), vec![3, 3]);
        for m in ["a", "b"] {
            for owned in &three[m] {
                assert!(two[m].contains(owned), "{m} lost {owned:?}");
            }
        }
        // A fourth member takes one partition from those above the floor only.
        let four = assign(
            AssignmentStrategy::Sticky,
            &subs(&["a", "b", "c", "d"], &["t"]),
            &p,
            &three,
        );
        assert_eq!(counts(&four).iter().sum::<usize>(), 6);
        assert!(counts(&four).iter().all(|&c| (1..=2).contains(&c)));
        let moved = ["a", "b", "c"]
            .iter()
            .map(|m| three[*m].iter().filter(|p| !four[*m].contains(p)).count())
            .sum::<usize>();
        assert_eq!(moved, 1);
    }

    #[test]
    fn members_only_get_topics_they_subscribe_to() {
        let mut s = subs(&["a"], &["t"]);
        s.insert("b".into(), ["u".to_owned()].into_iter().collect());
        let mut p = parts("t", 2);
        p.insert("u".into(), 2);
        for strategy in [
            AssignmentStrategy::Range,
            AssignmentStrategy::RoundRobin,
            AssignmentStrategy::Sticky,
        ] {
            let a = assign(strategy, &s, &p, &Assignment::new());
            assert!(a["a"].iter().all(|p| p.topic == "t"), "{strategy:?}");
            assert!(a["b"].iter().all(|p| p.topic == "u"), "{strategy:?}");
            assert_eq!(counts(&a), vec![2, 2], "{strategy:?}");
        }
    }
}
