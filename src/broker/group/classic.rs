//! Kafka's classic consumer groups (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup): the group's leader assigns client-side; the broker keeps
//! each member's protocol metadata and the leader's assignment as opaque
//! bytes and never overrides them.

use super::{Group, GroupState, MemberDescription, TopicPartition};
use crate::broker::Broker;
use std::collections::{BTreeMap, BTreeSet};

impl Group {
    pub(super) fn classic_state(&self) -> GroupState {
        GroupState::Empty
    }

    pub(super) fn protocol_type(&self) -> &str {
        if self.native.members.is_empty() {
            ""
        } else {
            super::types::NATIVE_PROTOCOL_TYPE
        }
    }

    pub(super) fn protocol_name(&self) -> String {
        String::new()
    }

    pub(super) fn generation(&self) -> i32 {
        self.native.epoch
    }
}

impl Broker {
    pub(super) fn describe_classic_members(
        &self,
        g: &Group,
        members: &mut Vec<MemberDescription>,
        names: &mut BTreeSet<String>,
        owners: &mut BTreeMap<TopicPartition, String>,
    ) {
        let _ = (g, members, names, owners);
    }
}
