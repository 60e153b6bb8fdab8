//! The one place where errors become responses: API Gateway's gateway responses (§9 of the
//! spec), plus the few edge answers that come before any API is chosen.

use http::{HeaderValue, Response, StatusCode};

use crate::http_client::{GatewayBody, full_body};

/// Gateway response types, with API Gateway's names, default status codes and
/// `x-amzn-ErrorType` values; and the edge errors wasmgate adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "the variants are API Gateway's gateway response types")]
pub enum ResponseType {
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    Default4xx,
    Default5xx,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
    /// Edge: a malformed request (no `Host`, two `Host`s, `Content-Length` with `Transfer-Encoding`).
    EdgeBadRequest,
    /// Edge: the body did not arrive in time.
    EdgeRequestTimeout,
    /// Edge: the header block is too large.
    EdgeHeadersTooLarge,
    /// Edge: the connection cap is reached.
    EdgeOverloaded,
}

impl ResponseType {
    /// API Gateway's name (`ACCESS_DENIED`, …); edge types have wasmgate names.
    pub fn name(self) -> &'static str {
        use ResponseType::*;
        match self {
            AccessDenied => "ACCESS_DENIED",
            ApiConfigurationError => "API_CONFIGURATION_ERROR",
            AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            AuthorizerFailure => "AUTHORIZER_FAILURE",
            BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            BadRequestBody => "BAD_REQUEST_BODY",
            Default4xx => "DEFAULT_4XX",
            Default5xx => "DEFAULT_5XX",
            ExpiredToken => "EXPIRED_TOKEN",
            IntegrationFailure => "INTEGRATION_FAILURE",
            IntegrationTimeout => "INTEGRATION_TIMEOUT",
            InvalidApiKey => "INVALID_API_KEY",
            InvalidSignature => "INVALID_SIGNATURE",
            MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            QuotaExceeded => "QUOTA_EXCEEDED",
            RequestTooLarge => "REQUEST_TOO_LARGE",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            Throttled => "THROTTLED",
            Unauthorized => "UNAUTHORIZED",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            WafFiltered => "WAF_FILTERED",
            EdgeBadRequest => "WASMGATE_BAD_REQUEST",
            EdgeRequestTimeout => "WASMGATE_REQUEST_TIMEOUT",
            EdgeHeadersTooLarge => "WASMGATE_HEADERS_TOO_LARGE",
            EdgeOverloaded => "WASMGATE_OVERLOADED",
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
}

impl GatewayError {
    /// An error of `response_type` with `message`.
    pub fn new(response_type: ResponseType, message: impl Into<String>) -> GatewayError {
        GatewayError { response_type, status: None, message: Some(message.into()), cause: None, close: false }
    }

    /// 403 `{"message":"Missing Authentication Token"}`: no such stage, resource or method.
    pub fn missing_token() -> GatewayError {
        GatewayError::new(ResponseType::MissingAuthenticationToken, "Missing Authentication Token")
    }

    /// 500 `{"message":"Internal server error"}` for a configuration problem.
    pub fn configuration(cause: anyhow::Error) -> GatewayError {
        GatewayError::new(ResponseType::ApiConfigurationError, "Internal server error").with_cause(cause)
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
    fn default_bodies_are_compact_json() {
        let resp = GatewayError::missing_token().into_response();
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
        let null = GatewayError { message: None, ..GatewayError::new(ResponseType::AuthorizerConfigurationError, "") };
        assert_eq!(null.status(), 500);
    }
}
