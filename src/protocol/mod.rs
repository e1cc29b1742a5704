//! The native TCP protocol as a pure codec: bytes in, values out.
//!
//! Frames ([`decode_frame`]) carry a request header and body
//! ([`decode_request`]) or a response header and body ([`decode_response`]).
//! Every api has plain request and response structs in [`messages`], each
//! with a [`Codec`]; the server maps them one to one onto broker calls.
//!
//! This module knows no sockets, no async runtime and no broker: it refers
//! only to itself (and may use [`record`](crate::record)). Decoding never panics and
//! never allocates more than the frame holds. The byte-level specification
//! is `docs/protocol.md`.

mod api;
#[cfg(test)]
mod arb;
mod error;
mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
#[cfg(test)]
mod tests;
pub mod wire;

pub use api::{ApiKey, RequestBody, ResponseBody};
pub use error::{MalformedReason, ProtocolError};
pub use error_code::ErrorCode;
pub use frame::{
    DEFAULT_MAX_FRAME, LENGTH_PREFIX, decode_frame, encode_frame, frame_len, frame_parts,
    write_frame,
};
pub use header::{
    RequestHeader, ResponseHeader, decode_request, decode_response, encode_refusal, encode_request,
    encode_request_parts, encode_response, encode_response_parts, peek_correlation_id,
};
pub use messages::*;
pub use wire::{Codec, Encoder, Since};
