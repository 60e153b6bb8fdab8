//! The one place where errors become responses: API Gateway's gateway responses (§9 of the
//! spec), plus the few edge answers that come before any API is chosen.

use http::{HeaderValue, Response, StatusCode};

use crate::http_client::{GatewayBody, full_body};

/// Declares [`ResponseType`] and the table of API Gateway's types with their names, from one
/// list.
macro_rules! response_types {
    ($($variant:ident = $name:literal,)*) => {
        /// Gateway response types, with API Gateway's names, default status codes and
        /// `x-amzn-ErrorType` values; and the edge errors wasmgate adds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(missing_docs, reason = "the variants are API Gateway's gateway response types")]
        pub enum ResponseType {
            $($variant,)*
            /// Edge: a malformed request (no `Host`, two `Host`s, `Content-Length` with `Transfer-Encoding`).
            EdgeBadRequest,
            /// Edge: the body did not arrive in time.
            EdgeRequestTimeout,
            /// Edge: the header block is too large.
            EdgeHeadersTooLarge,
            /// Edge: the connection cap is reached.
            EdgeOverloaded,
        }

        /// The gateway response types API Gateway has, with their names (the edge types are
        /// wasmgate's own).
        const AWS_TYPES: &[(ResponseType, &str)] = &[$((ResponseType::$variant, $name),)*];
    };
}

response_types! {
    AccessDenied = "ACCESS_DENIED",
    ApiConfigurationError = "API_CONFIGURATION_ERROR",
    AuthorizerConfigurationError = "AUTHORIZER_CONFIGURATION_ERROR",
    AuthorizerFailure = "AUTHORIZER_FAILURE",
    BadRequestParameters = "BAD_REQUEST_PARAMETERS",
    BadRequestBody = "BAD_REQUEST_BODY",
    Default4xx = "DEFAULT_4XX",
    Default5xx = "DEFAULT_5XX",
    ExpiredToken = "EXPIRED_TOKEN",
    IntegrationFailure = "INTEGRATION_FAILURE",
    IntegrationTimeout = "INTEGRATION_TIMEOUT",
    InvalidApiKey = "INVALID_API_KEY",
    InvalidSignature = "INVALID_SIGNATURE",
    MissingAuthenticationToken = "MISSING_AUTHENTICATION_TOKEN",
    QuotaExceeded = "QUOTA_EXCEEDED",
    RequestTooLarge = "REQUEST_TOO_LARGE",
    ResourceNotFound = "RESOURCE_NOT_FOUND",
    Throttled = "THROTTLED",
    Unauthorized = "UNAUTHORIZED",
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    WafFiltered = "WAF_FILTERED",
}

impl ResponseType {
    /// The API Gateway type with this name (`UNAUTHORIZED`, …).
    pub fn from_name(name: &str) -> Option<ResponseType> {
        AWS_TYPES.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }

    /// Edge answers are not API Gateway types and are never customized.
    pub fn is_edge(self) -> bool {
        !AWS_TYPES.iter().any(|(t, _)| *t == self)
    }

    /// API Gateway's name (`ACCESS_DENIED`, …); edge types have wasmgate names.
    pub fn name(self) -> &'static str {
        match self {
            ResponseType::EdgeBadRequest => "WASMGATE_BAD_REQUEST",
            ResponseType::EdgeRequestTimeout => "WASMGATE_REQUEST_TIMEOUT",
            ResponseType::EdgeHeadersTooLarge => "WASMGATE_HEADERS_TOO_LARGE",
            ResponseType::EdgeOverloaded => "WASMGATE_OVERLOADED",
            aws => AWS_TYPES.iter().find(|(t, _)| *t == aws).map_or("", |(_, n)| n),
        }
    }

    /// The default status code (spec §9.1).
    pub fn default_status(self) -> StatusCode {
        use ResponseType::*;
        let code = match self {
            AccessDenied
            | ExpiredToken
            | InvalidApiKey
            | InvalidSignature
            | MissingAuthenticationToken
            | WafFiltered => 403,
            ApiConfigurationError | AuthorizerConfigurationError | AuthorizerFailure | Default5xx => 500,
            BadRequestParameters | BadRequestBody | Default4xx | EdgeBadRequest => 400,
            IntegrationFailure | IntegrationTimeout => 504,
            QuotaExceeded | Throttled => 429,
            RequestTooLarge => 413,
            ResourceNotFound => 404,
            Unauthorized => 401,
            UnsupportedMediaType => 415,
            EdgeRequestTimeout => 408,
            EdgeHeadersTooLarge => 431,
            EdgeOverloaded => 503,
        };
        StatusCode::from_u16(code).expect("valid status")
    }

    /// The `x-amzn-ErrorType` header value (spec §9.3).
    pub fn error_type(self) -> &'static str {
        use ResponseType::*;
        match self {
            AccessDenied => "AccessDeniedException",
            ApiConfigurationError | Default5xx | IntegrationFailure | IntegrationTimeout => {
                "InternalServerErrorException"
            }
            AuthorizerConfigurationError => "AuthorizerConfigurationException",
            AuthorizerFailure => "AuthorizerFailureException",
            BadRequestParameters | BadRequestBody | UnsupportedMediaType | Default4xx | EdgeBadRequest => {
                "BadRequestException"
            }
            ExpiredToken => "ExpiredTokenException",
            InvalidApiKey | WafFiltered => "ForbiddenException",
            InvalidSignature => "InvalidSignatureException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            QuotaExceeded => "LimitExceededException",
            RequestTooLarge => "RequestTooLargeException",
            ResourceNotFound => "ResourceNotFoundException",
            Throttled => "TooManyRequestsException",
            Unauthorized => "UnauthorizedException",
            EdgeRequestTimeout => "RequestTimeoutException",
            EdgeHeadersTooLarge => "RequestHeaderFieldsTooLargeException",
            EdgeOverloaded => "ServiceUnavailableException",
        }
    }
}

/// An error on its way to the client, with the gateway response it becomes.
#[derive(Debug)]
pub struct GatewayError {
    /// Which gateway response.
    pub response_type: ResponseType,
    /// The status, when it differs from the type's default (e.g. 502 for a failed integration).
    pub status: Option<StatusCode>,
    /// `$context.error.message`; `None` renders as JSON `null`.
    pub message: Option<String>,
    /// The cause, for the log only; never sent to the client.
    pub cause: Option<anyhow::Error>,
    /// Close the connection after answering (the request body was not read).
    pub close: bool,
    /// `$context.error.validationErrorString`: why the request body failed its model.
    pub validation_errors: Option<String>,
}

impl GatewayError {
    /// An error of `response_type` with `message`.
    pub fn new(response_type: ResponseType, message: impl Into<String>) -> GatewayError {
        GatewayError {
            response_type,
            status: None,
            message: Some(message.into()),
            cause: None,
            close: false,
            validation_errors: None,
        }
    }

    /// 403 `{"message":"Missing Authentication Token"}`: no such stage, resource or method.
    pub fn missing_token() -> GatewayError {
        GatewayError::new(ResponseType::MissingAuthenticationToken, "Missing Authentication Token")
    }

    /// 500 `{"message":"Internal server error"}` for a configuration problem.
    pub fn configuration(cause: anyhow::Error) -> GatewayError {
        GatewayError::new(ResponseType::ApiConfigurationError, "Internal server error").with_cause(cause)
    }

    /// Attaches the validation errors (`$context.error.validationErrorString`).
    pub fn with_validation_errors(mut self, errors: String) -> GatewayError {
        self.validation_errors = Some(errors);
        self
    }

    /// Attaches a cause for the log.
    pub fn with_cause(mut self, cause: anyhow::Error) -> GatewayError {
        self.cause = Some(cause);
        self
    }

    /// Overrides the status code.
    pub fn with_status(mut self, status: u16) -> GatewayError {
        self.status = StatusCode::from_u16(status).ok();
        self
    }

    /// Asks for the connection to be closed after the answer.
    pub fn closing(mut self) -> GatewayError {
        self.close = true;
        self
    }

    /// The status code the client gets.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.response_type.default_status())
    }

    /// `$context.error.messageString`: the message as a JSON string, or `null`.
    pub fn message_string(&self) -> String {
        match &self.message {
            Some(m) => serde_json::Value::String(m.clone()).to_string(),
            None => "null".into(),
        }
    }

    /// Renders the response with the API's customization: the type's own, else DEFAULT_4XX /
    /// DEFAULT_5XX for its class; its status, headers (from `lookup`, which resolves mapping
    /// sources), and template (`$context.*` / `$stageVariables.*` substituted through `lookup`).
    /// Without a customization this is [`GatewayError::into_response`].
    pub fn into_custom_response(
        self,
        customized: &std::collections::BTreeMap<ResponseType, crate::manifest::GatewayResponseDef>,
        accept: Option<&str>,
        lookup: &dyn Fn(&crate::manifest::ParamSource) -> Option<String>,
    ) -> Response<GatewayBody> {
        if self.response_type.is_edge() || self.response_type == ResponseType::RequestTooLarge {
            return self.into_response();
        }
        let own = customized.get(&self.response_type);
        let class = if self.status().is_server_error() { ResponseType::Default5xx } else { ResponseType::Default4xx };
        let Some(def) = own.or_else(|| customized.get(&class)) else {
            return self.into_response();
        };
        // An individually customized type without a status keeps its own default; one that
        // inherits from DEFAULT_xXX takes that status when it has one.
        let status = match (own, def.status) {
            (_, Some(s)) => StatusCode::from_u16(s).unwrap_or_else(|_| self.status()),
            _ => self.status(),
        };
        let template = accept
            .and_then(|a| def.templates.get_key_value(a))
            .or_else(|| def.templates.get_key_value("application/json"))
            .or_else(|| def.templates.iter().next());
        let (content_type, body) = match template {
            Some((ct, t)) => (ct.clone(), substitute(t, &self, lookup)),
            None => ("application/json".to_string(), format!("{{\"message\":{}}}", self.message_string())),
        };
        let mut resp = Response::new(full_body(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/json")),
        );
        h.insert("x-amzn-errortype", HeaderValue::from_static(self.response_type.error_type()));
        for (name, source) in &def.headers {
            if let (Ok(n), Some(Ok(v))) =
                (http::HeaderName::from_bytes(name.as_bytes()), lookup(source).map(|v| HeaderValue::from_str(&v)))
            {
                h.insert(n, v);
            }
        }
        if self.close {
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }

    /// Renders the response with API Gateway's default template
    /// `{"message":$context.error.messageString}` (compact JSON).
    pub fn into_response(self) -> Response<GatewayBody> {
        let message = match &self.message {
            Some(m) => serde_json::Value::String(m.clone()),
            None => serde_json::Value::Null,
        };
        let body = serde_json::json!({ "message": message }).to_string();
        let mut resp = Response::new(full_body(body));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert("x-amzn-errortype", HeaderValue::from_static(self.response_type.error_type()));
        if self.close {
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// Substitutes `$context.<name>`, `$context.error.*`, `$stageVariables.<name>` (and the `${…}`
/// forms) in a gateway response template: API Gateway does not run VTL there. Unknown names
/// become empty.
fn substitute(
    template: &str,
    err: &GatewayError,
    lookup: &dyn Fn(&crate::manifest::ParamSource) -> Option<String>,
) -> String {
    use crate::manifest::ParamSource;
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (braced, body) = match after.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, after),
        };
        let len =
            body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')).unwrap_or(body.len());
        let name = body[..len].trim_end_matches('.');
        let consumed = if braced {
            if body[name.len()..].starts_with('}') { Some(name.len() + 3) } else { None }
        } else {
            Some(name.len() + 1)
        };
        let value = if let Some(n) = name.strip_prefix("context.error.") {
            match n {
                "message" => err.message.clone(),
                "messageString" => Some(err.message_string()),
                "responseType" => Some(err.response_type.name().to_string()),
                "validationErrorString" => err.validation_errors.clone(),
                _ => None,
            }
            .or(Some(String::new()))
        } else if let Some(n) = name.strip_prefix("context.") {
            Some(lookup(&ParamSource::Context(n.to_string())).unwrap_or_default())
        } else {
            name.strip_prefix("stageVariables.")
                .map(|n| lookup(&ParamSource::StageVariable(n.to_string())).unwrap_or_default())
        };
        match (value, consumed) {
            (Some(v), Some(n)) => {
                out.push_str(&v);
                rest = &rest[i + n..];
            }
            _ => {
                out.push('$');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.response_type.name(), self.status())?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(c) = &self.cause {
            write!(f, ": {c:#}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (t, name) in AWS_TYPES {
            assert_eq!(t.name(), *name);
            assert_eq!(ResponseType::from_name(name), Some(*t));
            assert!(!t.is_edge());
        }
        assert_eq!(AWS_TYPES.len(), 21);
        assert!(ResponseType::EdgeOverloaded.is_edge());
        assert_eq!(ResponseType::from_name("WASMGATE_OVERLOADED"), None);
    }

    #[test]
    fn default_bodies_are_compact_json() {
        let resp = GatewayError::missing_token().into_response();
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
        let null = GatewayError { message: None, ..GatewayError::new(ResponseType::AuthorizerConfigurationError, "") };
        assert_eq!(null.status(), 500);
    }
}
