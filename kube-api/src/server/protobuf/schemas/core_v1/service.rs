//! `core/v1` Service.

use super::super::super::schema::{B, I32, INT_OR_STR, Message, OPT, PTR, REQ, S, f, m, map, rep};
use super::super::meta_v1::{CONDITION, OBJECT_META};

/// `Service`.
pub(crate) static SERVICE: Message = Message::new(
    "Service",
    &[
        f(1, "metadata", m(&OBJECT_META), OPT),
        f(2, "spec", m(&SERVICE_SPEC), OPT),
        f(3, "status", m(&SERVICE_STATUS), OPT),
    ],
);

/// `ServiceSpec`.
static SERVICE_SPEC: Message = Message::new(
    "ServiceSpec",
    &[
        rep(1, "ports", m(&SERVICE_PORT), OPT),
        map(2, "selector", S, OPT),
        f(3, "clusterIP", S, OPT),
        rep(18, "clusterIPs", S, OPT),
        f(4, "type", S, OPT),
        rep(5, "externalIPs", S, OPT),
        f(7, "sessionAffinity", S, OPT),
        f(8, "loadBalancerIP", S, OPT),
        rep(9, "loadBalancerSourceRanges", S, OPT),
        f(10, "externalName", S, OPT),
        f(11, "externalTrafficPolicy", S, OPT),
        f(12, "healthCheckNodePort", I32, OPT),
        f(13, "publishNotReadyAddresses", B, OPT),
        f(
            14,
            "sessionAffinityConfig",
            m(&SESSION_AFFINITY_CONFIG),
            PTR,
        ),
        rep(19, "ipFamilies", S, OPT),
        f(17, "ipFamilyPolicy", S, PTR),
        f(20, "allocateLoadBalancerNodePorts", B, PTR),
        f(21, "loadBalancerClass", S, PTR),
        f(22, "internalTrafficPolicy", S, PTR),
        f(23, "trafficDistribution", S, PTR),
    ],
);

/// `ServicePort`: `targetPort` is an `IntOrString` value, so Go always writes it.
static SERVICE_PORT: Message = Message::new(
    "ServicePort",
    &[
        f(1, "name", S, OPT),
        f(2, "protocol", S, OPT),
        f(6, "appProtocol", S, PTR),
        f(3, "port", I32, REQ),
        f(4, "targetPort", INT_OR_STR, OPT),
        f(5, "nodePort", I32, OPT),
    ],
);

/// `SessionAffinityConfig`.
static SESSION_AFFINITY_CONFIG: Message = Message::new(
    "SessionAffinityConfig",
    &[f(1, "clientIP", m(&CLIENT_IP_CONFIG), PTR)],
);

/// `ClientIPConfig`.
static CLIENT_IP_CONFIG: Message =
    Message::new("ClientIPConfig", &[f(1, "timeoutSeconds", I32, PTR)]);

/// `ServiceStatus`.
static SERVICE_STATUS: Message = Message::new(
    "ServiceStatus",
    &[
        f(1, "loadBalancer", m(&LOAD_BALANCER_STATUS), OPT),
        rep(2, "conditions", m(&CONDITION), OPT),
    ],
);

/// `LoadBalancerStatus`.
static LOAD_BALANCER_STATUS: Message = Message::new(
    "LoadBalancerStatus",
    &[rep(1, "ingress", m(&LOAD_BALANCER_INGRESS), OPT)],
);

/// `LoadBalancerIngress`.
static LOAD_BALANCER_INGRESS: Message = Message::new(
    "LoadBalancerIngress",
    &[
        f(1, "ip", S, OPT),
        f(2, "hostname", S, OPT),
        f(3, "ipMode", S, PTR),
        rep(4, "ports", m(&PORT_STATUS), OPT),
    ],
);

/// `PortStatus`.
static PORT_STATUS: Message = Message::new(
    "PortStatus",
    &[
        f(1, "port", I32, REQ),
        f(2, "protocol", S, REQ),
        f(3, "error", S, PTR),
    ],
);
