//! The subject of an x509 client certificate: common name (the user) and organizations
//! (the groups), read straight from the DER encoding.
//!
//! The TLS layer has already verified the certificate chain against the cluster CA; this
//! module only reads the subject's `CN` and `O` attributes, as Kubernetes' x509
//! authenticator does.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// The client certificate chain of a TLS connection, verified against the cluster CA, as
/// the TLS server puts it in each request's extensions (leaf first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// The parts of a certificate subject that name a Kubernetes user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The common name (`CN`): the user name.
    pub common_name: Option<String>,
    /// The organizations (`O`): the groups, in order.
    pub organizations: Vec<String>,
}

/// Why a certificate's subject could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct CertificateParseError(&'static str);

const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0A];

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_VERSION: u8 = 0xA0;

/// Reads one DER element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), CertificateParseError> {
    let short = CertificateParseError("truncated DER element");
    let (&tag, rest) = input.split_first().ok_or(short)?;
    let (&first, mut rest) = rest
        .split_first()
        .ok_or(CertificateParseError("truncated DER length"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(CertificateParseError("unsupported DER length"));
        }
        let mut len = 0usize;
        for &b in &rest[..count] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        return Err(CertificateParseError("DER element longer than its input"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertificateParseError> {
    let (t, contents, rest) = element(input)?;
    if t != tag {
        return Err(CertificateParseError("unexpected DER tag"));
    }
    Ok((contents, rest))
}

/// Decodes a directory string (UTF8String, PrintableString, IA5String, TeletexString,
/// BMPString, UniversalString).
fn directory_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString
        0x0C | 0x13 | 0x16 | 0x1A => String::from_utf8(bytes.to_vec()).ok(),
        // TeletexString: treated as Latin-1.
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16 big-endian.
        0x1E => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32 big-endian.
        0x1C => bytes
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// Reads the subject of a DER-encoded certificate.
pub fn subject(cert: &[u8]) -> Result<Subject, CertificateParseError> {
    let (certificate, _) = expect(cert, TAG_SEQUENCE)?;
    let (tbs, _) = expect(certificate, TAG_SEQUENCE)?;
    let mut rest = tbs;
    // version [0] EXPLICIT, optional
    if rest.first() == Some(&TAG_VERSION) {
        rest = element(rest)?.2;
    }
    // serialNumber, signature, issuer, validity
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (mut name, _) = expect(rest, TAG_SEQUENCE)?;
    let mut subject = Subject::default();
    while !name.is_empty() {
        let (mut rdn, after) = expect(name, TAG_SET)?;
        name = after;
        while !rdn.is_empty() {
            let (attribute, after) = expect(rdn, TAG_SEQUENCE)?;
            rdn = after;
            let (oid, value) = expect(attribute, TAG_OID)?;
            let (tag, value, _) = element(value)?;
            let Some(text) = directory_string(tag, value) else {
                continue;
            };
            if oid == OID_COMMON_NAME {
                subject.common_name = Some(text);
            } else if oid == OID_ORGANIZATION {
                subject.organizations.push(text);
            }
        }
    }
    Ok(subject)
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    use super::*;

    fn cert(cn: Option<&str>, orgs: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_common_name_and_organization() {
        let der = cert(Some("alice"), &["system:masters"]);
        let s = subject(&der).unwrap();
        assert_eq!(s.common_name.as_deref(), Some("alice"));
        assert_eq!(s.organizations, ["system:masters"]);
        let s = subject(&cert(None, &[])).unwrap();
        assert_eq!(s, Subject::default());
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(u8::try_from(contents.len()).unwrap());
        } else {
            out.push(0x82);
            out.extend_from_slice(&u16::try_from(contents.len()).unwrap().to_be_bytes());
        }
        out.extend_from_slice(contents);
        out
    }

    fn attribute(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let inner = [tlv(TAG_OID, oid), tlv(tag, value)].concat();
        tlv(TAG_SET, &tlv(TAG_SEQUENCE, &inner))
    }

    #[test]
    fn reads_several_organizations_in_order() {
        // rcgen keeps one value per attribute type, so this subject is encoded by hand,
        // as openssl writes `/CN=carol/O=dev/O=ops` (one RDN per attribute).
        let name = [
            attribute(OID_COMMON_NAME, 0x0C, b"carol"),
            attribute(OID_ORGANIZATION, 0x13, b"dev"),
            attribute(OID_ORGANIZATION, 0x0C, b"ops"),
        ]
        .concat();
        let tbs = [
            tlv(TAG_VERSION, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &name),
        ]
        .concat();
        let der = tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &tbs));
        let s = subject(&der).unwrap();
        assert_eq!(s.common_name.as_deref(), Some("carol"));
        assert_eq!(s.organizations, ["dev", "ops"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x02, 0x30, 0x05],
        ] {
            assert!(subject(bad).is_err(), "{bad:?}");
        }
        let mut der = cert(Some("bob"), &[]);
        der.truncate(der.len() / 2);
        assert!(subject(&der).is_err());
    }

    #[test]
    fn decodes_string_types() {
        assert_eq!(directory_string(0x0C, "é".as_bytes()).as_deref(), Some("é"));
        assert_eq!(
            directory_string(0x1E, &[0, b'h', 0, b'i']).as_deref(),
            Some("hi")
        );
        assert_eq!(directory_string(0x14, &[0xE9]).as_deref(), Some("é"));
        assert_eq!(directory_string(0x04, b"x"), None);
    }
}
