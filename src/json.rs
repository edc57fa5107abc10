//! JSON read strictly: an object with a duplicate key is an error (serde_json keeps the last
//! one silently), at every depth, for specs, safetensors headers and checkpoint indexes alike.
//!
//! Owns: [`StrictValue`] (any JSON value), [`UniqueMap`] (an object in document order) and
//! [`check_unique`], the one duplicate-key rule. Does not own: what the JSON means.

use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// Refuse `key` if `seen` already holds it, else remember it.
pub(crate) fn check_unique<E: serde::de::Error>(
    seen: &mut HashSet<String>,
    key: &str,
) -> Result<(), E> {
    if seen.insert(key.to_string()) {
        Ok(())
    } else {
        Err(E::custom(format!("duplicate key `{key}`")))
    }
}

/// A JSON value parsed like `serde_json::Value`, except that an object with the same key twice
/// is an error (serde_json keeps the last one silently, which would hide a mistake).
#[derive(Debug)]
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::from(n)))
            }
            fn visit_u64<E>(self, n: u64) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::from(n)))
            }
            fn visit_f64<E>(self, x: f64) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::from(x)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::String(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::String(s)))
            }
            fn visit_unit<E>(self) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_none<E>(self) -> std::result::Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_some<D2: serde::Deserializer<'de>>(
                self,
                d: D2,
            ) -> std::result::Result<StrictValue, D2::Error> {
                <StrictValue as serde::Deserialize>::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<StrictValue, A::Error> {
                let mut v = Vec::new();
                while let Some(StrictValue(x)) = a.next_element()? {
                    v.push(x);
                }
                Ok(StrictValue(Value::Array(v)))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<StrictValue, A::Error> {
                let mut m = Map::new();
                let mut seen = HashSet::new();
                while let Some(k) = a.next_key::<String>()? {
                    check_unique(&mut seen, &k)?;
                    let StrictValue(v) = a.next_value()?;
                    m.insert(k, v);
                }
                Ok(StrictValue(Value::Object(m)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON map that refuses duplicate keys (serde_json keeps the last one silently), in
/// document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UniqueMap<V>(pub Vec<(String, V)>);

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Vis<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    check_unique(&mut seen, &k)?;
                    let v = map.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_map_rejects_duplicate_keys() {
        let e = serde_json::from_str::<UniqueMap<u32>>(r#"{"a":1,"b":2,"a":3}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
        let m: UniqueMap<u32> = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(m.0, vec![("b".into(), 1), ("a".into(), 2)]);
    }

    #[test]
    fn strict_values_refuse_duplicates_at_any_depth() {
        let e = serde_json::from_str::<StrictValue>(r#"{"a": [{"b": 1, "b": 2}]}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `b`"), "{e}");
        let StrictValue(v) = serde_json::from_str(r#"{"a": [1, {"b": null}], "c": 1.5}"#).unwrap();
        assert_eq!(v["a"][1]["b"], Value::Null);
    }
}
