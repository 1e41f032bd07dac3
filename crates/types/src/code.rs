//! [`ErrorCode`]: the stable names of what can go wrong for a client of a node, shared by
//! every interface that reports errors to programs (the CLI's `--json` errors today, the
//! node's HTTP API later), so that a script tests one `code` whichever way it talks to
//! Flashback.

use std::fmt;

use serde::{Deserialize, Serialize};

with_all! {
    /// Why a request failed, as a stable lowercase code (`invalid_input`, `not_found`, …). A
    /// code is never renamed or reused; new ones are appended. The message that goes with it
    /// is for people and may change.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ErrorCode {
        /// A flag, value or file the request cannot use: fix the input.
        InvalidInput,
        /// Nothing matches the id, key or name given.
        NotFound,
        /// An id prefix matches more than one object: give more characters.
        Ambiguous,
        /// The request conflicts with what is already signed or held: a sequence number
        /// already taken, a version that lost to a newer one.
        Conflict,
        /// The node refused a signed object by a protocol rule (the message names the rule).
        Refused,
        /// The node cannot be reached.
        Unreachable,
        /// No answer in time.
        Timeout,
        /// The node answered with something unreadable, or an object that does not verify:
        /// do not trust that node.
        BadNode,
        /// The node could not serve the request (storage error, overload): try again later.
        NodeFailed,
        /// A data-plane endpoint (HTTP) gave no usable answer.
        Endpoint,
        /// Reading or writing a local file failed.
        Io,
        /// Anything else: a bug, which is worth reporting.
        Internal,
        /// Too little data to answer (the pricing advisor with too few comparable offers):
        /// widen the question or wait for the market to grow.
        TooLittleData,
        /// No placement can meet the request, whatever the market answers (the message names
        /// the binding rule): change the request.
        Infeasible,
        /// No provider quoted a demand within the window: widen the request or wait longer.
        NoQuotes,
        /// A deal ended with fewer agreements than asked for (the message says why each
        /// candidate failed).
        DealShort,
    }
}

impl ErrorCode {
    /// The code as written in JSON, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Ambiguous => "ambiguous",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Refused => "refused",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::BadNode => "bad_node",
            ErrorCode::NodeFailed => "node_failed",
            ErrorCode::Endpoint => "endpoint",
            ErrorCode::Io => "io",
            ErrorCode::Internal => "internal",
            ErrorCode::TooLittleData => "too_little_data",
            ErrorCode::Infeasible => "infeasible",
            ErrorCode::NoQuotes => "no_quotes",
            ErrorCode::DealShort => "deal_short",
        }
    }

    /// The HTTP status an API answers with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::Ambiguous | ErrorCode::Conflict => 409,
            ErrorCode::Refused => 422,
            ErrorCode::Unreachable | ErrorCode::BadNode | ErrorCode::Endpoint => 502,
            ErrorCode::Timeout => 504,
            ErrorCode::NodeFailed => 503,
            ErrorCode::Io | ErrorCode::Internal => 500,
            ErrorCode::TooLittleData | ErrorCode::Infeasible | ErrorCode::DealShort => 422,
            ErrorCode::NoQuotes => 404,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_serde_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!((400..600).contains(&code.http_status()));
        }
    }
}
