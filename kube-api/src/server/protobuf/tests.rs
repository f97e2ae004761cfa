#![allow(clippy::needless_pass_by_value)]

use super::*;

/// A minimal protobuf writer for building test bodies.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn tag(&mut self, no: u32, wire: u8) {
        self.varint((u64::from(no) << 3) | u64::from(wire));
    }
    fn bytes(mut self, no: u32, b: &[u8]) -> Self {
        self.tag(no, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, no: u32, s: &str) -> Self {
        self.bytes(no, s.as_bytes())
    }
    fn msg(self, no: u32, m: W) -> Self {
        self.bytes(no, &m.0)
    }
    fn int(mut self, no: u32, v: i64) -> Self {
        self.tag(no, 0);
        self.varint(v as u64);
        self
    }
    fn entry(self, no: u32, k: &str, v: &str) -> Self {
        self.msg(no, W::default().str(1, k).str(2, v))
    }
}

fn envelope(api_version: &str, kind: &str, raw: W) -> Vec<u8> {
    let type_meta = W::default().str(1, api_version).str(2, kind);
    let unknown = W::default()
        .msg(1, type_meta)
        .msg(2, raw)
        .str(3, "")
        .str(4, "");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.0);
    out
}

/// ObjectMeta as Go writes it: every non-pointer field, even empty, and the zero time.
fn meta(name: &str) -> W {
    let zero_time = W::default().int(1, GO_ZERO_TIME).int(2, 0);
    W::default()
        .str(1, name)
        .str(2, "")
        .str(3, "")
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, zero_time)
}

#[test]
fn config_maps_decode_like_their_json() {
    let cm = W::default()
        .msg(1, meta("cfg").entry(11, "app", "web"))
        .entry(2, "k", "v")
        .entry(2, "empty", "")
        .msg(3, W::default().str(1, "bin").bytes(2, &[0, 1, 2]));
    let obj = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
    assert_eq!(
        obj,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "labels": {"app": "web"}},
            "data": {"k": "v", "empty": ""},
            "binaryData": {"bin": "AAEC"},
        })
    );
}

#[test]
fn deployments_keep_pointer_zeros_and_decode_int_or_string() {
    let container = W::default()
        .str(1, "app")
        .str(2, "busybox")
        .msg(8, W::default())
        .msg(
            6,
            W::default().str(1, "").int(2, 0).int(3, 8080).str(4, "TCP"),
        );
    let template = W::default()
        .msg(1, meta("").entry(11, "app", "web"))
        .msg(2, W::default().msg(2, container).int(4, 30));
    let strategy = W::default().str(1, "RollingUpdate").msg(
        2,
        W::default()
            .msg(1, W::default().int(1, 1).str(3, "25%"))
            .msg(2, W::default().int(1, 0).int(2, 2)),
    );
    let spec = W::default()
        .int(1, 0)
        .msg(2, W::default().entry(1, "app", "web"))
        .msg(3, template)
        .msg(4, strategy)
        .int(5, 0)
        .int(7, 0);
    let d = W::default()
        .msg(1, meta("web"))
        .msg(2, spec)
        .msg(3, W::default().int(1, 5));
    let obj = decode(&envelope("apps/v1", "Deployment", d)).unwrap();
    assert_eq!(obj["spec"]["replicas"], 0, "{obj}");
    assert!(obj["spec"].get("minReadySeconds").is_none(), "{obj}");
    assert!(obj["spec"].get("paused").is_none(), "{obj}");
    assert_eq!(
        obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        "25%"
    );
    assert_eq!(obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 2);
    let c = &obj["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(c["resources"], json!({}));
    assert_eq!(
        obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
    assert!(obj.get("status").is_none(), "{obj}");
    assert!(obj["metadata"].get("creationTimestamp").is_none(), "{obj}");
}

#[test]
fn negative_numbers_and_inlined_references_decode() {
    let env = W::default().str(1, "A").msg(
        3,
        W::default().msg(
            3,
            W::default()
                .msg(1, W::default().str(1, "cm"))
                .str(2, "key")
                .int(3, 1),
        ),
    );
    let pod = W::default().msg(1, meta("p")).msg(
        2,
        W::default()
            .msg(2, W::default().str(1, "c").msg(7, env))
            .int(5, -1),
    );
    let obj = decode(&envelope("v1", "Pod", pod)).unwrap();
    assert_eq!(obj["spec"]["activeDeadlineSeconds"], -1);
    assert_eq!(
        obj["spec"]["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"],
        json!({"name": "cm", "key": "key", "optional": true})
    );
}

#[test]
fn unknown_kinds_and_fields_are_415_and_garbage_is_400() {
    let err = Error::from(decode(&envelope("v1", "PersistentVolume", W::default())).unwrap_err());
    assert_eq!(err.code(), 415, "{err}");
    let pod = W::default()
        .msg(1, meta("p"))
        .msg(2, W::default().msg(1, W::default().str(1, "vol")));
    let err = Error::from(decode(&envelope("v1", "Pod", pod)).unwrap_err());
    assert_eq!(err.code(), 415, "{err}");
    assert!(err.to_string().contains("volumes"), "{err}");
    let unknown_field = W::default().msg(1, meta("c")).str(99, "x");
    let err = Error::from(decode(&envelope("v1", "ConfigMap", unknown_field)).unwrap_err());
    assert_eq!(err.code(), 415, "{err}");
    for garbage in [&b"{}"[..], b"k8s\0\x0a\xff", b"k8s\0\x0a\x05ab"] {
        let err = Error::from(decode(garbage).unwrap_err());
        assert_eq!(err.code(), 400, "{err}");
    }
}

#[test]
fn timestamps_decode_to_rfc3339() {
    let t = W::default().int(1, 1_700_000_000).int(2, 0);
    let m = meta("x").msg(9, t);
    let obj = decode(&envelope("v1", "ConfigMap", W::default().msg(1, m))).unwrap();
    assert_eq!(obj["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z");
}
