# The nginx and wasmgate configurations the benchmark scripts share (sourced by bench/run.sh and
# bench/instructions.sh, so both measure the same setup), and their scratch directory.

# start_workdir: sets WORK to a new temporary directory and PIDS to an empty list; when the
# script exits, every process in PIDS is killed and WORK removed.
start_workdir() {
  WORK=$(mktemp -d)
  PIDS=()
  trap cleanup_workdir EXIT
}

cleanup_workdir() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}

# nginx_conf <dir> <listen host:port> <backend host:port> [extra main-context lines]
# Writes <dir>/nginx.conf: one worker, an upstream keep-alive pool, no access log.
nginx_conf() {
  local dir=$1 listen=$2 backend=$3 extra=${4:-}
  mkdir -p "$dir/nginx"
  cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
user root;
daemon off;
$extra
pid $dir/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  upstream backend { server $backend; keepalive 256; }
  server {
    listen $listen;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
}

# gateway_toml <dir> <listen host:port> <backend host:port> <authorizer .wasm> [extra [gateway] lines]
# Writes <dir>/gateway.toml: /prod/proxy/{proxy+} (HTTP_PROXY), /prod/auth/{proxy+} (the same
# with the authorizer on every request), /prod/warm/{proxy+} (with warm authorizer instances),
# /prod/mock (MOCK).
gateway_toml() {
  local dir=$1 listen=$2 backend=$3 authorizer=$4 extra=${5:-}
  cat > "$dir/gateway.toml" <<WASMGATE
version = 1
[gateway]
state_dir = "$dir/wasmgate-state"
$extra
[gateway.limits]
max_connections = 100000
[[listeners]]
address = "$listen"
[plugins.auth]
path = "$authorizer"
[apis.bench.stages.prod]
[apis.bench.authorizers.auth]
type = "TOKEN"
plugin = "auth"
authorizerResultTtlInSeconds = 0   # the authorizer runs on every request
[apis.bench.resources."/proxy/{proxy+}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://$backend/{proxy}"
requestParameters = { "integration.request.path.proxy" = "method.request.path.proxy" }
[apis.bench.resources."/auth/{proxy+}".resourceMethods.ANY]
authorizationType = "CUSTOM"
authorizerId = "auth"
[apis.bench.resources."/auth/{proxy+}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://$backend/{proxy}"
requestParameters = { "integration.request.path.proxy" = "method.request.path.proxy" }
[plugins.authwarm]   # the same authorizer, with instances kept warm for reuse (opt-in)
path = "$authorizer"
limits = { warm_instances = 8 }
[apis.bench.authorizers.authwarm]
type = "TOKEN"
plugin = "authwarm"
authorizerResultTtlInSeconds = 0
[apis.bench.resources."/warm/{proxy+}".resourceMethods.ANY]
authorizationType = "CUSTOM"
authorizerId = "authwarm"
[apis.bench.resources."/warm/{proxy+}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://$backend/{proxy}"
requestParameters = { "integration.request.path.proxy" = "method.request.path.proxy" }
[apis.bench.resources."/mock".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = "hello, world" }
WASMGATE
}
