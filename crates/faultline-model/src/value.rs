//! Attributes: OpenTelemetry key-value pairs as an ordered JSON map.
//!
//! `AnyValue` maps onto JSON: string, bool, int (i64), double (always written with a decimal point or
//! exponent, so its type survives), array, and kvlist as an object. Bytes become
//! `{"bytesValue": "<base64>"}`, the OTLP/JSON spelling, so they stay distinguishable from strings.

/// Attributes of a resource, span, event, link, log record or metric point.
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// `service.name`, defaulting to `unknown_service` as the OpenTelemetry SDKs do.
pub fn service_name_of(resource: &Attributes) -> String {
    match resource.get("service.name") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => "unknown_service".to_string(),
    }
}

/// The instance identity as the telemetry names it: `service.instance.id`, else `host.name`, else
/// `k8s.pod.name`.
pub fn instance_identity(resource: &Attributes) -> Option<String> {
    ["service.instance.id", "host.name", "k8s.pod.name"].iter().find_map(|k| match resource.get(*k) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// Reads an attribute as a string, whatever its JSON type (strings unquoted).
pub fn attr_str(attrs: &Attributes, key: &str) -> Option<String> {
    match attrs.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        v => Some(v.to_string()),
    }
}

/// Reads an attribute as an integer when it is one (or a string holding one).
pub fn attr_i64(attrs: &Attributes, key: &str) -> Option<i64> {
    match attrs.get(key)? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Serialises attributes to the JSON text stored in tables (empty map as `{}`).
pub fn attributes_to_json(attrs: &Attributes) -> String {
    serde_json::to_string(attrs).expect("a JSON map always serialises")
}

/// Parses the stored JSON text back; an empty or invalid text gives an empty map.
pub fn attributes_from_json(s: &str) -> Attributes {
    if s.is_empty() {
        return Attributes::new();
    }
    serde_json::from_str(s).unwrap_or_default()
}
