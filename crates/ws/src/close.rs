//! Close status codes (RFC 6455 §7.4) and the rules for a close frame's
//! payload (§5.5.1).

use std::fmt;

use crate::error::ProtocolError;

/// A close status code (RFC 6455 §7.4). The constants are the codes this
/// crate sends or that have a defined meaning; [`CloseCode::is_valid_on_wire`]
/// says which may appear in a close frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: reserved; reported when a close frame carried no code, never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reserved; the connection ended without a close frame, never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (text not UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether `self` may be carried by a close frame (RFC 6455 §7.4.1,
    /// §7.4.2 and the IANA registry): 1000–1003 and 1007–1014 are defined
    /// (1004 is reserved, 1005 and 1006 are never sent, 1015 is for TLS
    /// failures reported locally), 1016–2999 are reserved for future RFCs,
    /// 3000–3999 are registered by libraries and frameworks and 4000–4999 are
    /// private: both are valid. Anything below 1000 or above 4999 is not.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// Largest close reason we send: a control frame carries at most 125 bytes
/// (RFC 6455 §5.5), two of which are the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// The code and reason a close frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, UTF-8, at most [`MAX_CLOSE_REASON`] bytes.
    pub reason: String,
}

/// Reads a received close frame's payload (RFC 6455 §5.5.1): empty (no code,
/// `Ok(None)`), or a 2-byte code in network order and a UTF-8 reason. A
/// 1-byte payload and a code that may not be sent (§7.4.1, §7.4.2) fail the
/// connection with 1002, a reason that is not UTF-8 with 1007 (§8.1).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    let fail = |code, reason| Err(ProtocolError { code, reason });
    match payload.len() {
        0 => Ok(None),
        1 => fail(CloseCode::PROTOCOL_ERROR, "close payload of one byte"),
        _ => {
            let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.is_valid_on_wire() {
                return fail(CloseCode::PROTOCOL_ERROR, "invalid close code");
            }
            match std::str::from_utf8(&payload[2..]) {
                Ok(reason) => Ok(Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                })),
                Err(_) => fail(CloseCode::INVALID_PAYLOAD, "close reason is not UTF-8"),
            }
        }
    }
}

/// The longest prefix of `reason` that fits a close frame and ends on a
/// character boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_follows_section_7_4() {
        for c in 0..1000 {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in [1004, 1005, 1006, 1015] {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in 1016..3000 {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in 3000..5000 {
            assert!(CloseCode(c).is_valid_on_wire(), "{c}");
        }
        for c in 5000..=u16::MAX {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c}");
        }
    }

    #[test]
    fn payload_rules() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(
            parse_close_payload(b"\x03").unwrap_err().code,
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8bye"),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "bye".to_owned()
            }))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff").unwrap_err().code,
            CloseCode::INVALID_PAYLOAD
        );
        assert_eq!(
            parse_close_payload(b"\x03\xed").unwrap_err().code,
            CloseCode::PROTOCOL_ERROR
        );
    }

    #[test]
    fn reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 122);
        assert_eq!(truncate_reason("short"), "short");
    }
}
