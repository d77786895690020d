//! The JSON body extractor: every rejection is a problem document (400 malformed,
//! 413 too large, 415 wrong media type, 422 unknown field or invalid value), and the
//! raw bytes are kept for the idempotency fingerprint.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::http::problem::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_content = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson("the request body could not be read".into())
                }
            })?;
        if raw.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        // An empty body stands for `{}`; a non-empty one must say it is JSON.
        let text: &[u8] = if raw.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            if json_content == Some(false) {
                return Err(ApiError::UnsupportedMediaType);
            }
            &raw
        };
        let value = parse_json(text)?;
        Ok(JsonBody { value, raw })
    }
}

/// Parses a JSON body into `T`: a syntax error is 400, a value that does not fit is 422
/// naming the field (`rateLimit`, `keys[3].name`).
pub fn parse_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(text);
    let StrictValue(mut value) =
        serde_path_to_error::deserialize(&mut *deserializer).map_err(|error| {
            let path = error.path().to_string();
            let error = error.into_inner();
            match error.classify() {
                // A repeated name: JSON's data model does not say which one counts.
                serde_json::error::Category::Data => {
                    ApiError::Domain(field_error("", &path, &error.to_string()))
                }
                _ => ApiError::MalformedJson(format!(
                    "the body is not valid JSON: {}",
                    sanitized(&error.to_string())
                )),
            }
        })?;
    deserializer.end().map_err(|error| {
        ApiError::MalformedJson(format!(
            "the body is not valid JSON: {}",
            sanitized(&error.to_string())
        ))
    })?;
    // Every body of this API is an object: serde would take an array for a struct
    // whose fields all have defaults (a merge patch of `[]`, say), field by position.
    if !value.is_object() {
        return Err(keyroll_core::error::Error::invalid("body", "must be a JSON object").into());
    }
    whole_numbers(&mut value);
    from_value(value, "")
}

/// A JSON value whose objects never repeat a name.
struct StrictValue(serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if fields.contains_key(&name) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    name.chars().take(64).collect::<String>()
                )));
            }
            let StrictValue(value) = map.next_value()?;
            fields.insert(name, value);
        }
        Ok(fields.into())
    }
}

/// Deserializes a JSON value into `T`, a failure naming the field under `prefix`.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ApiError::Domain(field_error(prefix, &path, &error.into_inner().to_string()))
    })
}

/// JSON Schema counts `5.0` as the integer 5, so the server does too.
pub fn whole_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) if !number.is_u64() && !number.is_i64() => {
            if let Some(float) = number.as_f64() {
                if float.fract() == 0.0 && float >= 0.0 && float < u64::MAX as f64 {
                    *value = serde_json::Value::from(float as u64);
                } else if float.fract() == 0.0 && float < 0.0 && float > i64::MIN as f64 {
                    *value = serde_json::Value::from(float as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// A deserialization failure as an invalid-field error: the field is the failure's path
/// (`.` is the whole body), or for an unknown or missing field that field itself.
fn field_error(prefix: &str, path: &str, message: &str) -> keyroll_core::Error {
    let mut field = match (prefix, path) {
        (prefix, ".") => prefix.to_owned(),
        ("", path) => path.to_owned(),
        (prefix, path) if path.starts_with('[') => format!("{prefix}{path}"),
        (prefix, path) => format!("{prefix}.{path}"),
    };
    let message = sanitized(message);
    // The path of a missing field ends at its object; an unknown one's names it.
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name: String = rest
            .split('`')
            .next()
            .unwrap_or("")
            .chars()
            .take(64)
            .collect();
        field = if field.is_empty() {
            name
        } else {
            format!("{field}.{name}")
        };
    }
    if field.is_empty() {
        field = "body".to_owned();
    }
    keyroll_core::Error::invalid(field, friendly(&message))
}

/// serde's expectation in the API's words.
fn friendly(message: &str) -> String {
    let (problem, expected) = match message.split_once(", expected ") {
        Some((problem, expected)) => (problem, Some(expected)),
        None => (message, None),
    };
    let expected = expected.map(|e| match e {
        "u8" | "u16" | "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "u64" | "usize" => "a whole number of at least 0".to_owned(),
        "a boolean" => "true or false".to_owned(),
        other => other.to_owned(),
    });
    match expected {
        Some(expected) if problem.starts_with("unknown field") => {
            format!("is not a field here (expected {expected})")
        }
        Some(expected) => format!("{problem}; expected {expected}"),
        None if problem.starts_with("missing field") => "is required".to_owned(),
        None if problem.starts_with("duplicate field") => "is given twice".to_owned(),
        None => problem.to_owned(),
    }
}

/// serde's message without its position, with input values blanked (a value sent in
/// the wrong field might be a secret; a field's own name is kept), bounded in length.
fn sanitized(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    // What serde expected is the API's own vocabulary (types, field and variant names).
    if let Some((found, expected)) = message.split_once(", expected ") {
        let expected: String = expected.chars().take(240).collect();
        return format!("{}, expected {expected}", sanitized(found));
    }
    let names_a_field = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .any(|kind| message.starts_with(kind));
    let mut out = String::new();
    let mut inside: Option<char> = None;
    let mut first_backtick = true;
    for c in message.chars() {
        match (inside, c) {
            (None, '"') => {
                inside = Some('"');
                out.push(c);
            }
            (None, '`') => {
                inside = Some('`');
                out.push(c);
            }
            (Some(quote), c) if c == quote => {
                let keep = quote == '`' && names_a_field && first_backtick;
                if !keep {
                    out.push('…');
                }
                if quote == '`' {
                    first_backtick = false;
                }
                inside = None;
                out.push(c);
            }
            (Some('`'), c) if names_a_field && first_backtick => out.push(c),
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out.chars().take(300).collect()
}

/// Query parameters, with every rejection (unknown parameter, wrong type) a 422
/// problem document naming the parameter.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let mut problem = field_error("", &path, &message);
                if let keyroll_core::Error::Invalid { field, .. } = &mut problem {
                    if field == "body" {
                        *field = "query".into();
                    }
                }
                ApiError::Domain(problem)
            })
    }
}
