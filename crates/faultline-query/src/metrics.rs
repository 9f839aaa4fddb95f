//! Metric series as the API returns them: one per metric, service, instance and point attributes,
//! with the metric's description, temporality and monotonicity, each point in full (integers as
//! integers, histograms with their buckets, count, sum, min and max), and percentiles estimated
//! from histograms and summaries on request.

use faultline_model::metric::{MetricData, MetricPoint};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Percentiles asked of histograms, as the API reads them (`percentiles=50,95,99`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Percentiles(Vec<f64>);

impl Percentiles {
    /// Reads a comma-separated list of percentiles, each above 0 and at most 100.
    pub fn parse(s: &str) -> Result<Percentiles, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let p: f64 = part.parse().map_err(|_| format!("percentile {part:?} is not a number"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!("percentile {part} is outside (0, 100]"));
            }
            out.push(p);
        }
        Ok(Percentiles(out))
    }
}

/// Builds the series of `points` (any order); each series' points sorted by time.
pub fn series(points: impl IntoIterator<Item = MetricPoint>, pct: &Percentiles) -> Vec<Value> {
    type Key = (String, String, String, String);
    let mut by_key: BTreeMap<Key, (Value, Vec<MetricPoint>)> = BTreeMap::new();
    for p in points {
        let key = (
            p.name.clone(),
            p.resource.service_name.clone(),
            p.resource.instance.clone().unwrap_or_default(),
            faultline_model::value::attributes_to_json(&p.attributes),
        );
        by_key.entry(key).or_insert_with(|| (head(&p), Vec::new())).1.push(p);
    }
    by_key
        .into_values()
        .map(|(mut head, mut pts)| {
            pts.sort_by_key(|p| p.time_unix_nano);
            let simple: Vec<Value> = pts
                .iter()
                .filter_map(|p| p.scalar().map(|v| json!([p.time_unix_nano, number(v, p)])))
                .collect();
            head["points"] = Value::Array(simple);
            head["data_points"] = pts.iter().map(|p| data_point(p, pct)).collect();
            head
        })
        .collect()
}

/// What a series' points share.
fn head(p: &MetricPoint) -> Value {
    json!({
        "name": p.name, "description": p.description, "unit": p.unit, "kind": p.kind,
        "temporality": p.temporality, "is_monotonic": p.is_monotonic,
        "service": p.resource.service_name, "instance": p.resource.instance,
        "attributes": p.attributes,
    })
}

/// Integers up to 2^53 survive an f64 exactly; a stored integer counter beyond that is a float
/// already, and is written as one.
const EXACT_F64_INT: f64 = 9_007_199_254_740_992.0;

/// A value as JSON: an integer when the point's source value was one.
fn number(v: f64, p: &MetricPoint) -> Value {
    match p.data {
        MetricData::Number { is_int: true, .. } if v.fract() == 0.0 && v.abs() <= EXACT_F64_INT => {
            json!(v as i64)
        }
        _ => json!(v),
    }
}

/// One point in full.
fn data_point(p: &MetricPoint, pct: &Percentiles) -> Value {
    let mut m = Map::new();
    m.insert("time_unix_nano".into(), json!(p.time_unix_nano));
    m.insert("start_time_unix_nano".into(), json!(p.start_time_unix_nano));
    match &p.data {
        MetricData::Number { value, .. } => {
            m.insert("value".into(), number(*value, p));
        }
        d => {
            if let Value::Object(fields) = serde_json::to_value(d).unwrap_or_default() {
                m.extend(fields.into_iter().filter(|(k, _)| k != "type"));
            }
            if !pct.0.is_empty() {
                let est: Map<String, Value> =
                    pct.0.iter().map(|&q| (fmt_pct(q), json!(d.quantile(q / 100.0)))).collect();
                m.insert("percentiles".into(), Value::Object(est));
            }
        }
    }
    Value::Object(m)
}

/// `99`, `99.9`: a percentile's name as a key.
fn fmt_pct(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{}", q as i64)
    } else {
        format!("{q}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_model::metric::{MetricKind, Temporality};
    use faultline_model::ResourceInfo;
    use std::sync::Arc;

    fn point(name: &str, t: i64, data: MetricData) -> MetricPoint {
        let mut a = faultline_model::Attributes::new();
        a.insert("service.name".into(), "api".into());
        MetricPoint {
            name: name.into(),
            description: "what it counts".into(),
            unit: "ms".into(),
            kind: match data {
                MetricData::Number { .. } => MetricKind::Sum,
                _ => MetricKind::Histogram,
            },
            temporality: Temporality::Cumulative,
            is_monotonic: true,
            time_unix_nano: t,
            start_time_unix_nano: 1,
            attributes: Default::default(),
            flags: 0,
            data,
            resource: Arc::new(ResourceInfo::from_attributes(a)),
        }
    }

    #[test]
    fn histograms_keep_their_buckets_and_integers_stay_integers() {
        let h = MetricData::Histogram {
            count: 8,
            sum: Some(1111.0),
            min: Some(0.2),
            max: Some(480.0),
            bucket_counts: vec![2, 2, 2, 2, 0],
            explicit_bounds: vec![0.5, 5.0, 50.0, 500.0],
        };
        let pts = vec![
            point("latency", 20, h),
            point("requests", 10, MetricData::Number { value: 41.0, is_int: true }),
            point("requests", 5, MetricData::Number { value: 40.0, is_int: true }),
        ];
        let s = series(pts, &Percentiles::parse("50,99").unwrap());
        let out = serde_json::to_string_pretty(&s).unwrap();
        assert_eq!(s[1]["points"], json!([[5, 40], [10, 41]]), "{out}");
        assert_eq!(s[1]["data_points"][0]["value"], json!(40));
        assert_eq!(s[1]["temporality"], "cumulative");
        assert_eq!(s[1]["is_monotonic"], true);
        assert_eq!(s[1]["description"], "what it counts");
        let d = &s[0]["data_points"][0];
        assert_eq!(d["bucket_counts"], json!([2, 2, 2, 2, 0]));
        assert_eq!(d["explicit_bounds"], json!([0.5, 5.0, 50.0, 500.0]));
        assert_eq!(
            (d["count"].clone(), d["sum"].clone(), d["min"].clone()),
            (json!(8), json!(1111.0), json!(0.2))
        );
        assert_eq!(d["start_time_unix_nano"], 1);
        assert_eq!(d["percentiles"]["50"], json!(5.0));
        assert_eq!(d["percentiles"]["99"], json!(480.0));
    }

    #[test]
    fn percentiles_must_be_in_range() {
        assert_eq!(Percentiles::parse("50, 99.9").unwrap(), Percentiles(vec![50.0, 99.9]));
        assert!(Percentiles::parse("0").is_err());
        assert!(Percentiles::parse("101").unwrap_err().contains("outside"));
        assert!(Percentiles::parse("p99").unwrap_err().contains("not a number"));
    }
}
