//! Signature helpers: HMAC-SHA1/SHA256 in base64 or hex, and comparisons
//! that take the same time whatever the input (so an attacker cannot find a
//! valid signature byte by byte).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("hmac takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim()).ok()
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares a received hex signature (any case) with the expected bytes.
pub fn verify_hex(received: &str, expected: &[u8]) -> bool {
    match hex::decode(received.trim()) {
        Ok(got) => constant_time_eq(&got, expected),
        Err(_) => false,
    }
}

/// Compares a received base64 signature with the expected bytes.
pub fn verify_base64(received: &str, expected: &[u8]) -> bool {
    match base64_decode(received) {
        Some(got) => constant_time_eq(&got, expected),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_sha1_rfc2202_case_2() {
        let mac = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn verify_rejects_wrong_length_and_garbage() {
        let mac = hmac_sha256(b"k", b"m");
        assert!(verify_hex(&hex(&mac), &mac));
        assert!(verify_hex(&hex(&mac).to_uppercase(), &mac));
        assert!(!verify_hex(&hex(&mac[..31]), &mac));
        assert!(!verify_hex("zz", &mac));
        assert!(verify_base64(&base64(&mac), &mac));
        assert!(!verify_base64("not base64!", &mac));
    }
}
