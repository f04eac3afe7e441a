//! Checks of JSON against `openapi.json` (feature `testing`, and this crate's tests): a small
//! validator for the subset of OpenAPI 3.0 schemas the document uses, so tests that see real
//! answers can assert they are documented.

use serde_json::{Value, json};

/// The OpenAPI document, parsed.
pub fn openapi() -> Value {
    serde_json::from_str(crate::OPENAPI).expect("openapi.json is JSON")
}

/// `schema`, with `$ref`s followed.
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = doc
                .pointer(r.strip_prefix('#').expect("local $ref"))
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

/// A small validator for the subset of OpenAPI 3.0 schemas the document uses: types,
/// `nullable`, `enum`, `allOf`, `items`, `properties` (no undocumented key) and `required`.
pub fn check(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    let all_of = schema.get("allOf").and_then(Value::as_array);
    let ty = schema.get("type").and_then(Value::as_str);
    if v.is_null() {
        return match schema["nullable"] == true || (ty.is_none() && all_of.is_none()) {
            true => Ok(()),
            false => Err(format!("{at}: null, not nullable")),
        };
    }
    if let Some(all) = all_of {
        return all.iter().try_for_each(|s| check(doc, s, v, at));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {values:?}"));
    }
    let fits = match ty {
        None => true,
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        Some(other) => return Err(format!("{at}: unknown type {other}")),
    };
    if !fits {
        return Err(format!("{at}: {v} is not a {}", ty.unwrap()));
    }
    if let Some(items) = v.as_array() {
        for (i, x) in items.iter().enumerate() {
            check(doc, &schema["items"], x, &format!("{at}[{i}]"))?;
        }
    }
    if let (Some(o), Some(props)) = (
        v.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for (k, x) in o {
            let s = props
                .get(k)
                .ok_or_else(|| format!("{at}.{k}: not in the schema"))?;
            check(doc, s, x, &format!("{at}.{k}"))?;
        }
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                return Err(format!("{at}.{r}: required, missing"));
            }
        }
    }
    Ok(())
}

/// Asserts that `v` matches `#/components/schemas/<name>`.
#[track_caller]
pub fn conforms(name: &str, v: &Value) {
    let doc = openapi();
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    if let Err(e) = check(&doc, &schema, v, "$") {
        panic!("{name} does not match openapi.json: {e}\n{v:#}");
    }
}

/// Every `$ref` in `v`.
pub fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
