//! Metadata and topic administration: Metadata (this broker is every
//! partition's leader and the controller, leader epochs are -1, topics
//! carry their ids, unknown topics are created when the client allows it
//! and the broker auto-creates), CreateTopics (with configs and
//! `validate_only`), DeleteTopics, CreatePartitions, DescribeConfigs and
//! IncrementalAlterConfigs. Each maps onto broker calls; calls that write
//! metadata files run on the blocking pool.

use super::Shared;
use super::dispatch::{code, error_code};
use crate::broker::{
    Broker, BrokerError, ConfigEntry, ConfigOp, ConfigSource, ConfigType, TopicId,
};
use crate::kafka_codec::{
    AlterConfigsResourceResponse, CreatableTopicConfigs, CreatableTopicResult,
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopicResult,
    CreateTopicsRequest, CreateTopicsResponse, DeletableTopicResult, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResourceResult,
    DescribeConfigsResponse, DescribeConfigsResult, DescribeConfigsSynonym,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, MetadataRequest,
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    Uuid,
};

/// DescribeConfigs resource types.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Runs a blocking broker call off the runtime workers.
async fn blocking<T: Send + 'static>(
    broker: &Broker,
    f: impl FnOnce(&Broker) -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    let broker = broker.clone();
    tokio::task::spawn_blocking(move || f(&broker))
        .await
        .map_err(|source| BrokerError::TaskFailed { source })?
}

fn uuid(id: TopicId) -> Uuid {
    Uuid(id.0)
}

fn topic_metadata(shared: &Shared, name: &str) -> MetadataResponseTopic {
    let broker = &shared.broker;
    let node = shared.config.node_id;
    match broker.describe_topic(name) {
        Ok(t) => MetadataResponseTopic {
            error_code: 0,
            name: Some(t.name.clone()),
            topic_id: uuid(t.id),
            is_internal: t.internal,
            partitions: t
                .partitions
                .iter()
                .map(|p| MetadataResponsePartition {
                    error_code: 0,
                    partition_index: p.partition as i32,
                    leader_id: node,
                    // No OffsetForLeaderEpoch: -1 makes clients skip
                    // offset validation.
                    leader_epoch: -1,
                    replica_nodes: vec![node],
                    isr_nodes: vec![node],
                    offline_replicas: Vec::new(),
                })
                .collect(),
            ..MetadataResponseTopic::default()
        },
        Err(e) => MetadataResponseTopic {
            error_code: error_code(&e),
            name: Some(name.to_owned()),
            ..MetadataResponseTopic::default()
        },
    }
}

pub(super) fn metadata(shared: &Shared, r: MetadataRequest, version: i16) -> MetadataResponse {
    let broker = &shared.broker;
    // v0: an empty list means every topic; v1+: null means every topic.
    let wanted = match r.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    // Versions before 4 cannot say no to auto-creation.
    let allow_create = version < 4 || r.allow_auto_topic_creation;
    let topics = match wanted {
        None => broker
            .list_topics(true)
            .iter()
            .map(|name| topic_metadata(shared, name))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|t| {
                let name = match t.name {
                    Some(name) if !name.is_empty() => name,
                    _ => match broker.topic_name_by_id(TopicId(t.topic_id.0)) {
                        Some(name) => name,
                        None => {
                            return MetadataResponseTopic {
                                error_code: code::UNKNOWN_TOPIC_ID,
                                name: None,
                                topic_id: t.topic_id,
                                ..MetadataResponseTopic::default()
                            };
                        }
                    },
                };
                if allow_create && broker.config().auto_create_topics {
                    match broker.create_topic(&name, broker.default_topic_config().clone()) {
                        Ok(()) | Err(BrokerError::TopicExists { .. }) => {}
                        Err(e) => {
                            return MetadataResponseTopic {
                                error_code: error_code(&e),
                                name: Some(name),
                                ..MetadataResponseTopic::default()
                            };
                        }
                    }
                }
                topic_metadata(shared, &name)
            })
            .collect(),
    };
    let (host, port) = &shared.advertised;
    MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: shared.config.node_id,
            host: host.clone(),
            port: i32::from(*port),
            rack: None,
        }],
        cluster_id: Some(shared.config.cluster_id.clone()),
        // Admin clients send topic changes to the controller: it is us.
        controller_id: shared.config.node_id,
        topics,
        ..MetadataResponse::default()
    }
}

fn source_code(s: ConfigSource) -> i8 {
    match s {
        ConfigSource::Topic => 1,
        ConfigSource::Default => 5,
    }
}

fn type_code(t: ConfigType) -> i8 {
    match t {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

pub(super) async fn create_topics(
    shared: &Shared,
    r: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(r.topics.len());
    for t in &r.topics {
        let duplicate = r.topics.iter().filter(|o| o.name == t.name).count() > 1;
        let fail = |error_code: i16, message: String| CreatableTopicResult {
            name: t.name.clone(),
            error_code,
            error_message: Some(message),
            num_partitions: -1,
            replication_factor: -1,
            configs: None,
            ..CreatableTopicResult::default()
        };
        if duplicate {
            results.push(fail(
                code::INVALID_REQUEST,
                format!("topic {} is named more than once", t.name),
            ));
            continue;
        }
        if !matches!(t.replication_factor, -1 | 1) {
            results.push(fail(
                code::INVALID_REPLICATION_FACTOR,
                "logbus is one broker: the replication factor is 1".to_owned(),
            ));
            continue;
        }
        if !t.assignments.is_empty() {
            results.push(fail(
                code::INVALID_REPLICA_ASSIGNMENT,
                "logbus is one broker: replica assignments are not taken".to_owned(),
            ));
            continue;
        }
        let partitions = match t.num_partitions {
            -1 => None,
            n => Some(u32::try_from(n).unwrap_or(0)),
        };
        let configs: Vec<(String, Option<String>)> = t
            .configs
            .iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect();
        let name = t.name.clone();
        let validate_only = r.validate_only;
        let created = blocking(&shared.broker, move |b| {
            let config = if validate_only {
                b.validate_new_topic(&name, partitions, &configs)?
            } else {
                b.create_topic_with_configs(&name, partitions, &configs)?
            };
            let id = if validate_only {
                TopicId::ZERO
            } else {
                b.topic_id(&name)?
            };
            let entries = crate::broker::ConfigEntry::all_for(&config, b.default_topic_config());
            Ok((config.partitions, id, entries))
        })
        .await;
        results.push(match created {
            Ok((partitions, id, entries)) => CreatableTopicResult {
                name: t.name.clone(),
                topic_id: uuid(id),
                error_code: 0,
                error_message: None,
                num_partitions: partitions as i32,
                replication_factor: 1,
                configs: (version >= 5).then(|| {
                    entries
                        .into_iter()
                        .map(|e| CreatableTopicConfigs {
                            name: e.name.to_owned(),
                            value: Some(e.value),
                            read_only: e.read_only,
                            config_source: source_code(e.source),
                            is_sensitive: false,
                        })
                        .collect()
                }),
                ..CreatableTopicResult::default()
            },
            Err(e) => fail(error_code(&e), e.to_string()),
        });
    }
    CreateTopicsResponse {
        throttle_time_ms: 0,
        topics: results,
    }
}

pub(super) async fn delete_topics(
    shared: &Shared,
    r: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    // v6 names topics by name or id; earlier versions by name only.
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        r.topics
            .into_iter()
            .map(|t| (t.name.filter(|n| !n.is_empty()), t.topic_id))
            .collect()
    } else {
        r.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::default()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let name = name.or_else(|| shared.broker.topic_name_by_id(TopicId(id.0)));
        let Some(name) = name else {
            responses.push(DeletableTopicResult {
                name: None,
                topic_id: id,
                error_code: code::UNKNOWN_TOPIC_ID,
                error_message: Some("no topic has this id".to_owned()),
            });
            continue;
        };
        let topic_id = shared.broker.topic_id(&name).map_or(id, uuid);
        let target = name.clone();
        let result = blocking(&shared.broker, move |b| b.delete_topic(&target)).await;
        let (error_code, error_message) = match result {
            Ok(()) => (0, None),
            Err(e) => (error_code(&e), Some(e.to_string())),
        };
        responses.push(DeletableTopicResult {
            name: Some(name),
            topic_id,
            error_code,
            error_message,
        });
    }
    DeleteTopicsResponse {
        throttle_time_ms: 0,
        responses,
    }
}

pub(super) async fn create_partitions(
    shared: &Shared,
    r: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(r.topics.len());
    for t in r.topics {
        let count = u32::try_from(t.count).unwrap_or(0);
        let result = if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
            Err((
                code::INVALID_REPLICA_ASSIGNMENT,
                "logbus is one broker: replica assignments are not taken".to_owned(),
            ))
        } else {
            let name = t.name.clone();
            let validate_only = r.validate_only;
            blocking(&shared.broker, move |b| {
                if validate_only {
                    b.check_add_partitions(&name, count)
                } else {
                    b.add_partitions(&name, count)
                }
            })
            .await
            .map_err(|e| (error_code(&e), e.to_string()))
        };
        let (error_code, error_message) = match result {
            Ok(()) => (0, None),
            Err((c, m)) => (c, Some(m)),
        };
        results.push(CreatePartitionsTopicResult {
            name: t.name,
            error_code,
            error_message,
        });
    }
    CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
    }
}

fn describe_entry(
    e: ConfigEntry,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let mut list = Vec::new();
    if synonyms {
        if e.source == ConfigSource::Topic {
            list.push(DescribeConfigsSynonym {
                name: e.name.to_owned(),
                value: Some(e.value.clone()),
                source: source_code(ConfigSource::Topic),
            });
        }
        list.push(DescribeConfigsSynonym {
            name: e.name.to_owned(),
            value: Some(e.default_value.clone()),
            source: source_code(ConfigSource::Default),
        });
    }
    DescribeConfigsResourceResult {
        name: e.name.to_owned(),
        value: Some(e.value),
        read_only: e.read_only,
        config_source: source_code(e.source),
        is_sensitive: false,
        synonyms: list,
        config_type: type_code(e.config_type),
        documentation: documentation.then(|| e.documentation.to_owned()),
    }
}

pub(super) fn describe_configs(
    shared: &Shared,
    r: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = r
        .resources
        .into_iter()
        .map(|res| {
            let base = DescribeConfigsResult {
                resource_type: res.resource_type,
                resource_name: res.resource_name.clone(),
                ..DescribeConfigsResult::default()
            };
            match res.resource_type {
                RESOURCE_TOPIC => match shared.broker.describe_topic_configs(&res.resource_name) {
                    Ok(entries) => DescribeConfigsResult {
                        error_code: 0,
                        error_message: None,
                        configs: entries
                            .into_iter()
                            .filter(|e| {
                                res.configuration_keys
                                    .as_ref()
                                    .is_none_or(|keys| keys.iter().any(|k| k == e.name))
                            })
                            .map(|e| describe_entry(e, r.include_synonyms, r.include_documentation))
                            .collect(),
                        ..base
                    },
                    Err(e) => DescribeConfigsResult {
                        error_code: error_code(&e),
                        error_message: Some(e.to_string()),
                        ..base
                    },
                },
                // The broker's own settings are not Kafka's: none are listed.
                RESOURCE_BROKER => DescribeConfigsResult {
                    error_code: 0,
                    ..base
                },
                _ => DescribeConfigsResult {
                    error_code: code::INVALID_REQUEST,
                    error_message: Some(
                        "logbus describes topic and broker configs only".to_owned(),
                    ),
                    ..base
                },
            }
        })
        .collect();
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    }
}

pub(super) async fn alter_configs(
    shared: &Shared,
    r: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(r.resources.len());
    for res in r.resources {
        let result = if res.resource_type != RESOURCE_TOPIC {
            Err((
                code::INVALID_REQUEST,
                "logbus alters topic configs only".to_owned(),
            ))
        } else {
            let ops: Result<Vec<ConfigOp>, (i16, String)> = res
                .configs
                .iter()
                .map(|c| {
                    let value = c.value.clone().unwrap_or_default();
                    match c.config_operation {
                        0 => Ok(ConfigOp::Set(c.name.clone(), value)),
                        1 => Ok(ConfigOp::Delete(c.name.clone())),
                        2 => Ok(ConfigOp::Append(c.name.clone(), value)),
                        3 => Ok(ConfigOp::Subtract(c.name.clone(), value)),
                        op => Err((
                            code::INVALID_REQUEST,
                            format!("unknown config operation {op}"),
                        )),
                    }
                })
                .collect();
            match ops {
                Err(e) => Err(e),
                Ok(ops) => {
                    let name = res.resource_name.clone();
                    let validate_only = r.validate_only;
                    blocking(&shared.broker, move |b| {
                        b.alter_topic_configs(&name, &ops, validate_only)
                    })
                    .await
                    .map_err(|e| (error_code(&e), e.to_string()))
                }
            }
        };
        let (error_code, error_message) = match result {
            Ok(()) => (0, None),
            Err((c, m)) => (c, Some(m)),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: res.resource_type,
            resource_name: res.resource_name,
        });
    }
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
