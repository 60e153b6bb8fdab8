// Renders templates with Apache Velocity 1.7, the engine API Gateway runs, for the
// differential tests: `java -cp velocity-1.7.jar:commons-*.jar:. Oracle a.vtl b.vtl …` writes
// `a.vtl.out` ("OK\n" + output, or "ERR\n" + the exception class) next to each template.
// The context holds the same values tests/differential.rs gives wasmgate-vtl.
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.*;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;

public class Oracle {
    public static class Util {
        public String escapeJavaScript(String s) { return org.apache.commons.lang.StringEscapeUtils.escapeJavaScript(s); }
        public String urlEncode(String s) throws Exception { return java.net.URLEncoder.encode(s, "UTF-8"); }
        public String urlDecode(String s) throws Exception { return java.net.URLDecoder.decode(s, "UTF-8"); }
        public String base64Encode(String s) { return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8)); }
        public String base64Decode(String s) { return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8); }
    }

    public static class Input {
        final Map<String, Object> params = new LinkedHashMap<>();
        Input() {
            params.put("path", new LinkedHashMap<>(Map.of("id", "42")));
            params.put("querystring", new LinkedHashMap<>(Map.of("q", "x y")));
            params.put("header", new LinkedHashMap<>(Map.of("Accept", "application/json")));
        }
        public String getBody() { return "{\"a\":1}"; }
        public Map<String, Object> params() { return params; }
        public String params(String name) {
            for (String k : new String[] {"path", "querystring", "header"}) {
                Object v = ((Map<?, ?>) params.get(k)).get(name);
                if (v != null) return (String) v;
            }
            return "";
        }
    }

    static Map<String, Object> linked(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    static VelocityContext context() {
        VelocityContext c = new VelocityContext();
        c.put("name", "Ada");
        c.put("n", 3);
        c.put("big", Integer.MAX_VALUE);
        c.put("d", 1.5);
        c.put("flag", true);
        c.put("empty", "");
        c.put("list", new ArrayList<>(List.of("a", "b", "c")));
        c.put("nums", new ArrayList<>(List.of(1, 2, 3)));
        c.put("map", linked("a", 1, "b", "two", "c", new ArrayList<>(List.of(1, 2))));
        c.put("nested", linked("inner", linked("k", "v"), "list", new ArrayList<>(List.of(linked("x", 1)))));
        c.put("util", new Util());
        c.put("input", new Input());
        c.put("context", linked("requestId", "r-1", "authorizer", linked("principalId", "alice"),
            "identity", linked("sourceIp", "127.0.0.1")));
        c.put("stageVariables", linked("env", "prod"));
        return c;
    }

    public static void main(String[] args) throws Exception {
        VelocityEngine ve = new VelocityEngine();
        ve.setProperty("runtime.log.logsystem.class", "org.apache.velocity.runtime.log.NullLogChute");
        ve.init();
        for (String f : args) {
            String src = new String(Files.readAllBytes(Paths.get(f)), StandardCharsets.UTF_8);
            StringWriter w = new StringWriter();
            String out;
            try {
                ve.evaluate(context(), w, f, src);
                out = "OK\n" + w;
            } catch (Exception e) {
                out = "ERR\n" + e.getClass().getSimpleName();
            }
            Files.write(Paths.get(f + ".out"), out.getBytes(StandardCharsets.UTF_8));
        }
    }
}
