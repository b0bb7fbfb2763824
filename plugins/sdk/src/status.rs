//! Status vocabularies as data: each plugin declares a table from its
//! provider's status strings to normalized states, and unknown strings map
//! to `unknown` (with the raw one kept by the caller), never an error.

use crate::DeliveryState;

/// A provider status table: `(provider status, normalized state)`.
pub type StatusTable = &'static [(&'static str, DeliveryState)];

/// Looks a status up, ignoring ASCII case and surrounding whitespace.
pub fn map_status(table: StatusTable, raw: &str) -> DeliveryState {
    let raw = raw.trim();
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(raw))
        .map(|(_, s)| *s)
        .unwrap_or(DeliveryState::Unknown)
}

/// True for an error code that means "no error": empty, `0`, `000` (SMPP
/// receipts' `err:`, gateways' `err`/`dlr_err` fields).
pub fn is_no_error(code: &str) -> bool {
    code.trim().bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: StatusTable = &[("DELIVRD", DeliveryState::Delivered)];

    #[test]
    fn maps_case_insensitively_and_defaults_to_unknown() {
        assert_eq!(map_status(T, " delivrd "), DeliveryState::Delivered);
        assert_eq!(map_status(T, "WHATEVER"), DeliveryState::Unknown);
    }

    #[test]
    fn no_error_codes() {
        for none in ["", " ", "0", "000", " 00 "] {
            assert!(is_no_error(none), "{none:?}");
        }
        for some in ["1", "0x0A", "001", "O"] {
            assert!(!is_no_error(some), "{some:?}");
        }
    }
}
