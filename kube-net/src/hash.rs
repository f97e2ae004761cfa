//! The short hashes in chain names: base32 (RFC 4648) of SHA-256, as kube-proxy names its
//! chains.

use ring::digest;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 of `bytes`, whose length is a multiple of 5 (no padding needed).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    out
}

/// The first 16 characters of the base32 encoding of the SHA-256 of `input`.
pub(crate) fn hash16(input: &str) -> String {
    let sum = digest::digest(&digest::SHA256, input.as_bytes());
    // 16 base32 characters are 80 bits: the first 10 bytes of the digest.
    base32(&sum.as_ref()[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648's vectors, for inputs of whole 5-byte groups.
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b""), "");
        assert_eq!(base32(&[0xff; 5]), "77777777");
    }

    #[test]
    fn hashes_are_16_base32_characters() {
        let h = hash16("ns/svc:ptcp");
        assert_eq!(h.len(), 16);
        assert!(h.bytes().all(|b| BASE32.contains(&b)));
        assert_ne!(h, hash16("ns/svc:pudp"));
    }
}
