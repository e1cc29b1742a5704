//! From a frame to a reply: decode with `kafka_codec`, refuse what cannot
//! be served with Kafka's error (or close when the header cannot be read),
//! run the request's handler, and encode its response. The small handlers
//! (ApiVersions, FindCoordinator, InitProducerId) live here; the others in
//! `produce.rs`, `fetch.rs`, `admin.rs` and `groups.rs`.

use super::Shared;
use super::connection::{Ctx, Reply};
use super::{admin, fetch, groups, produce};
use crate::broker::{BrokerError, ProducerIdAndEpoch};
use crate::kafka_codec::{
    ApiKey, ApiVersion, ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, KafkaCodecError,
    KafkaRequest, KafkaResponse, RequestHeader, SUPPORTED_APIS, decode_request, encode_response,
    encode_response_parts, request_header_version,
};
use crate::server::limits::RequestCharge;
use bytes::Bytes;
use std::time::Instant;

/// Kafka error codes the listener itself answers with.
pub(super) mod code {
    /// `UNKNOWN_SERVER_ERROR`.
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    /// `UNKNOWN_TOPIC_OR_PARTITION`.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// `COORDINATOR_NOT_AVAILABLE`.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// `INVALID_REQUIRED_ACKS`.
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    /// `UNSUPPORTED_VERSION`.
    pub const UNSUPPORTED_VERSION: i16 = 35;
    /// `INVALID_REPLICATION_FACTOR`.
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    /// `INVALID_REPLICA_ASSIGNMENT`.
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    /// `INVALID_REQUEST`.
    pub const INVALID_REQUEST: i16 = 42;
    /// `UNKNOWN_TOPIC_ID`.
    pub const UNKNOWN_TOPIC_ID: i16 = 100;
}

/// A decoded request ready to run.
pub(super) struct Job {
    header: RequestHeader,
    api: ApiKey,
    request: KafkaRequest,
    /// Bytes charged to the connection's budget for it so far.
    pub charge: usize,
    /// The frame's reservation in the shared request budget, held until
    /// the request is done.
    pub held: Option<RequestCharge>,
    request_len: usize,
    received: Instant,
}

impl Job {
    /// Whether it is a produce (produces of a connection run one at a time).
    pub fn is_produce(&self) -> bool {
        self.api == ApiKey::Produce
    }
}

/// What the reader does with a frame.
pub(super) enum Decoded {
    /// Run it.
    Run(Box<Job>),
    /// Answer at once with this frame (a refusal).
    Answer(Vec<Bytes>),
    /// Close the connection, for this reason.
    Close(String),
}

/// Decodes `frame` (without its size prefix) into a job, a refusal, or a
/// reason to close.
pub(super) fn decode(frame: Bytes, shared: &Shared) -> Decoded {
    let request_len = frame.len();
    let copy = frame.clone();
    match decode_request(frame).or_else(|e| lenient(e, copy.clone())) {
        Ok((header, request)) => {
            let Some(api) = ApiKey::from_i16(header.request_api_key) else {
                return Decoded::Close("undecodable api key".to_owned());
            };
            let reserve = match &request {
                KafkaRequest::Fetch(f) => usize::try_from(f.max_bytes)
                    .unwrap_or(0)
                    .min(shared.config.max_in_flight_bytes),
                _ => 1024,
            };
            Decoded::Run(Box::new(Job {
                header,
                api,
                request,
                charge: request_len + reserve,
                held: None,
                request_len,
                received: Instant::now(),
            }))
        }
        Err(e) => {
            // The start of what could not be read, for whoever debugs a client.
            let head: Vec<String> = copy.iter().take(256).map(|b| format!("{b:02x}")).collect();
            tracing::debug!(bytes = head.concat(), "undecodable Kafka request");
            refuse(&e)
        }
    }
}

/// A request whose body is followed by bytes its spec does not have,
/// decoded as Kafka decodes it: Kafka's request parsing ignores what is
/// left after the body. librdkafka 2.16 relies on it: its Metadata v12
/// request for every topic carries its topic count both as a compact
/// varint and as the old 4-byte count, 3 bytes more than the spec.
fn lenient(
    e: KafkaCodecError,
    mut frame: Bytes,
) -> Result<(RequestHeader, KafkaRequest), KafkaCodecError> {
    let KafkaCodecError::MalformedBody { header, source } = &e else {
        return Err(e);
    };
    if !matches!(**source, KafkaCodecError::TrailingBytes { .. }) {
        return Err(e);
    }
    let (Some(api), version) = (
        ApiKey::from_i16(header.request_api_key),
        header.request_api_version,
    ) else {
        return Err(e);
    };
    let header_version = request_header_version(header.request_api_key, version);
    let header = RequestHeader::decode(&mut frame, header_version)?;
    let body = KafkaRequest::decode(api, &mut frame, version)?;
    tracing::debug!(
        api = api.name(),
        version,
        left = frame.len(),
        "Kafka request with bytes after its body: ignored, as Kafka does"
    );
    Ok((header, body))
}

/// Kafka's answer to a request that failed to decode, where its header
/// could be read. ApiVersions of any version gets a v0 body listing what is
/// supported (KIP-511: the client retries at a version both know). Other
/// apis have no response layout at a version the codec lacks, so, as Kafka
/// does, the connection closes.
fn refuse(e: &KafkaCodecError) -> Decoded {
    let Some(header) = e.header() else {
        return Decoded::Close(format!("request header cannot be read: {e}"));
    };
    tracing::debug!(api_key = header.request_api_key, version = header.request_api_version, error = %e, "Kafka request refused");
    if header.request_api_key == ApiKey::ApiVersions as i16 {
        let body = KafkaResponse::ApiVersions(ApiVersionsResponse {
            error_code: code::UNSUPPORTED_VERSION,
            api_keys: api_keys(),
            ..ApiVersionsResponse::default()
        });
        return match encode_response(header.correlation_id, ApiKey::ApiVersions, 0, &body) {
            Ok(frame) => Decoded::Answer(vec![frame]),
            Err(e) => Decoded::Close(format!("cannot encode the ApiVersions fallback: {e}")),
        };
    }
    let why = match e {
        KafkaCodecError::MalformedBody { source, .. } => format!("{e}: {source}"),
        _ => e.to_string(),
    };
    Decoded::Close(why)
}

/// Runs `job` and encodes its response; `Reply::Nothing` for `acks=0`.
pub(super) async fn run(ctx: &Ctx, job: Job) -> Reply {
    let Job {
        header,
        api,
        request,
        charge,
        held,
        request_len,
        received,
    } = job;
    let version = header.request_api_version;
    let response = handle(ctx, &header, request).await;
    drop(held);
    let (frame, error) = match response {
        None => {
            ctx.budget.recharge(charge, request_len);
            observe(ctx, api, received, false);
            return Reply::Nothing {
                charge: request_len,
            };
        }
        Some(body) => {
            let error = first_error(&body);
            (
                // Fetched batches of 16 KiB or more are shared, not copied.
                encode_response_parts(header.correlation_id, api, version, &body),
                error,
            )
        }
    };
    observe(ctx, api, received, error);
    match frame {
        Ok(parts) => {
            let held = request_len + parts.iter().map(Bytes::len).sum::<usize>();
            ctx.budget.recharge(charge, held);
            Reply::Frame {
                parts,
                charge: held,
            }
        }
        Err(e) => {
            tracing::error!(api = api.name(), version, error = %e, "cannot encode a Kafka response; closing the connection");
            ctx.budget.recharge(charge, request_len);
            Reply::Close
        }
    }
}

fn observe(ctx: &Ctx, api: ApiKey, received: Instant, error: bool) {
    if let Some(o) = &ctx.shared.config.observer {
        o.observe(metric_name(api), received.elapsed().as_secs_f64(), error);
    }
}

/// The `api` label of a Kafka request in the request metrics: prefixed, so
/// that Kafka's Produce and the native protocol's are told apart.
fn metric_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "kafka.Produce",
        ApiKey::Fetch => "kafka.Fetch",
        ApiKey::ListOffsets => "kafka.ListOffsets",
        ApiKey::Metadata => "kafka.Metadata",
        ApiKey::OffsetCommit => "kafka.OffsetCommit",
        ApiKey::OffsetFetch => "kafka.OffsetFetch",
        ApiKey::FindCoordinator => "kafka.FindCoordinator",
        ApiKey::JoinGroup => "kafka.JoinGroup",
        ApiKey::Heartbeat => "kafka.Heartbeat",
        ApiKey::LeaveGroup => "kafka.LeaveGroup",
        ApiKey::SyncGroup => "kafka.SyncGroup",
        ApiKey::DescribeGroups => "kafka.DescribeGroups",
        ApiKey::ListGroups => "kafka.ListGroups",
        ApiKey::ApiVersions => "kafka.ApiVersions",
        ApiKey::CreateTopics => "kafka.CreateTopics",
        ApiKey::DeleteTopics => "kafka.DeleteTopics",
        ApiKey::InitProducerId => "kafka.InitProducerId",
        ApiKey::DescribeConfigs => "kafka.DescribeConfigs",
        ApiKey::CreatePartitions => "kafka.CreatePartitions",
        ApiKey::DeleteGroups => "kafka.DeleteGroups",
        ApiKey::IncrementalAlterConfigs => "kafka.IncrementalAlterConfigs",
    }
}

/// Whether a response's top-level error code says it failed.
fn first_error(body: &KafkaResponse) -> bool {
    match body {
        KafkaResponse::ApiVersions(r) => r.error_code != 0,
        KafkaResponse::FindCoordinator(r) => r.error_code != 0,
        KafkaResponse::InitProducerId(r) => r.error_code != 0,
        KafkaResponse::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .any(|p| p.error_code != 0),
        KafkaResponse::Fetch(r) => {
            r.error_code != 0
                || r.responses
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .any(|p| p.error_code != 0)
        }
        _ => false,
    }
}

/// The request's response body; `None` when none is sent.
async fn handle(ctx: &Ctx, header: &RequestHeader, request: KafkaRequest) -> Option<KafkaResponse> {
    let version = header.request_api_version;
    let shared = &ctx.shared;
    Some(match request {
        KafkaRequest::ApiVersions(r) => KafkaResponse::ApiVersions(api_versions(&r, version)),
        KafkaRequest::Metadata(r) => KafkaResponse::Metadata(admin::metadata(shared, r, version)),
        KafkaRequest::Produce(r) => {
            return produce::produce(shared, r, version)
                .await
                .map(KafkaResponse::Produce);
        }
        KafkaRequest::Fetch(r) => KafkaResponse::Fetch(fetch::fetch(ctx, r, version).await),
        KafkaRequest::ListOffsets(r) => {
            KafkaResponse::ListOffsets(fetch::list_offsets(shared, r, version))
        }
        KafkaRequest::FindCoordinator(r) => {
            KafkaResponse::FindCoordinator(find_coordinator(shared, &r))
        }
        KafkaRequest::InitProducerId(r) => {
            KafkaResponse::InitProducerId(init_producer_id(shared, &r).await)
        }
        KafkaRequest::CreateTopics(r) => {
            KafkaResponse::CreateTopics(admin::create_topics(shared, r, version).await)
        }
        KafkaRequest::DeleteTopics(r) => {
            KafkaResponse::DeleteTopics(admin::delete_topics(shared, r, version).await)
        }
        KafkaRequest::CreatePartitions(r) => {
            KafkaResponse::CreatePartitions(admin::create_partitions(shared, r).await)
        }
        KafkaRequest::DescribeConfigs(r) => {
            KafkaResponse::DescribeConfigs(admin::describe_configs(shared, r))
        }
        KafkaRequest::IncrementalAlterConfigs(r) => {
            KafkaResponse::IncrementalAlterConfigs(admin::alter_configs(shared, r).await)
        }
        KafkaRequest::OffsetCommit(r) => {
            KafkaResponse::OffsetCommit(groups::offset_commit(&shared.broker, r).await)
        }
        KafkaRequest::OffsetFetch(r) => {
            KafkaResponse::OffsetFetch(groups::offset_fetch(&shared.broker, r))
        }
        KafkaRequest::ListGroups(r) => {
            KafkaResponse::ListGroups(groups::list_groups(&shared.broker, &r))
        }
        KafkaRequest::DescribeGroups(r) => {
            KafkaResponse::DescribeGroups(groups::describe_groups(&shared.broker, r))
        }
        KafkaRequest::DeleteGroups(r) => {
            KafkaResponse::DeleteGroups(groups::delete_groups(&shared.broker, r).await)
        }
        other => return groups::not_yet(&other),
    })
}

/// Every api and version range logbus advertises.
fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|&(api, min_version, max_version)| ApiVersion {
            api_key: api as i16,
            min_version,
            max_version,
        })
        .collect()
}

/// Whether a KIP-511 client software name or version is well formed:
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

fn api_versions(r: &ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    if version >= 3
        && !(valid_software_field(&r.client_software_name)
            && valid_software_field(&r.client_software_version))
    {
        return ApiVersionsResponse {
            error_code: code::INVALID_REQUEST,
            ..ApiVersionsResponse::default()
        };
    }
    ApiVersionsResponse {
        error_code: 0,
        api_keys: api_keys(),
        ..ApiVersionsResponse::default()
    }
}

/// This broker coordinates every group. Transactions are not served.
fn find_coordinator(shared: &Shared, r: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    if r.key_type != 0 {
        return FindCoordinatorResponse {
            error_code: code::COORDINATOR_NOT_AVAILABLE,
            error_message: Some("logbus does not support transactions".to_owned()),
            node_id: -1,
            host: String::new(),
            port: -1,
            ..FindCoordinatorResponse::default()
        };
    }
    let (host, port) = &shared.advertised;
    FindCoordinatorResponse {
        error_code: 0,
        error_message: None,
        node_id: shared.config.node_id,
        host: host.clone(),
        port: i32::from(*port),
        ..FindCoordinatorResponse::default()
    }
}

/// An idempotent producer's id; with a current id and epoch (v3+), the
/// same id with the next epoch (KIP-360).
async fn init_producer_id(shared: &Shared, r: &InitProducerIdRequest) -> InitProducerIdResponse {
    let refused = |error_code| InitProducerIdResponse {
        error_code,
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdResponse::default()
    };
    if r.transactional_id.is_some() {
        return refused(code::UNSUPPORTED_VERSION);
    }
    let existing = (r.producer_id >= 0).then_some(ProducerIdAndEpoch {
        producer_id: r.producer_id,
        epoch: r.producer_epoch,
    });
    let broker = shared.broker.clone();
    // A new block of ids is written with an fsync: off the runtime workers.
    let result = tokio::task::spawn_blocking(move || broker.init_producer_id(existing)).await;
    match result {
        Ok(Ok(id)) => InitProducerIdResponse {
            error_code: 0,
            producer_id: id.producer_id,
            producer_epoch: id.epoch,
            ..InitProducerIdResponse::default()
        },
        Ok(Err(e)) => refused(error_code(&e)),
        Err(_) => refused(code::UNKNOWN_SERVER_ERROR),
    }
}

/// The Kafka error code a broker error is reported with.
pub(super) fn error_code(e: &BrokerError) -> i16 {
    e.kafka_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_software_names_follow_kip_511() {
        for ok in ["librdkafka", "apache-kafka-java", "2.15.0", "a", "x.y-z1"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "é", "a_b", "."] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }
}
