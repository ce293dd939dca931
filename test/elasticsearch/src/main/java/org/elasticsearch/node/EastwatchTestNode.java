package org.elasticsearch.node;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.plugins.EastwatchClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A single-node Elasticsearch server running in this JVM from the Maven Central jars only
 * (server + transport-netty4), for eastwatch's tests: no Docker, no distribution tarball.
 *
 * Usage: java -cp CLASSPATH org.elasticsearch.node.EastwatchTestNode [--port 9250] [--home DIR] [--transport-port 0]
 * (or -Des.port / -Des.home / -Des.transport.port). Prints "started on http://127.0.0.1:PORT" once the
 * HTTP server is bound; stops cleanly on SIGTERM/SIGINT.
 *
 * It lives in org.elasticsearch.node because Node(NodeConstruction), NodeConstruction.prepareConstruction
 * and NodeServiceProvider are package-private: this is the same shape as the test framework's MockNode,
 * whose bootstrap (ESTestCase) we cannot use since it refuses to run as root.
 */
public final class EastwatchTestNode extends Node {

    private static final List<Class<? extends Plugin>> CLASSPATH_PLUGINS = List.of(Netty4Plugin.class);

    private EastwatchTestNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader ignored) {
                return new EastwatchClasspathPluginsService(env, plugins);
            }
        }, true));
    }

    @Override
    protected void configureNodeAndClusterIdStateListener(org.elasticsearch.cluster.service.ClusterService clusterService) {
        // The production listener sets process-wide log4j fields once (SetOnce); harmless here, but
        // MockNode skips it too and it is of no use to a test server.
    }

    static Settings settings(Path home, String httpPort, String transportPort) {
        return Settings.builder()
            .put("cluster.name", "eastwatch-test")
            .put("node.name", "eastwatch-es")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            // Without this, ES sizes thread pools from the machine and CI boxes differ.
            .put("node.processors", 2)
            // Test machines often have full-ish disks: never block writes on watermarks.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // The real-memory breaker trips spuriously in a small heap shared with a test JVM's GC patterns.
            .put("indices.breaker.total.use_real_memory", false)
            // Tests clean up with DELETE /prefix-*; production keeps the 8.x default (true).
            .put("action.destructive_requires_name", false)
            // No log4j2.properties here: log4j's default console config prints ERROR only; INFO shows
            // startup, index creation and mapping updates in the log file the start script keeps.
            .put("logger.level", System.getProperty("es.logger.level", "INFO"))
            .build();
    }

    public static void main(String[] args) throws Exception {
        String port = System.getProperty("es.port", "9250");
        String transportPort = System.getProperty("es.transport.port", "0");
        String homeArg = System.getProperty("es.home");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 < args.length && (a.equals("--port") || a.equals("--home") || a.equals("--transport-port"))) {
                String v = args[++i];
                switch (a) {
                    case "--port" -> port = v;
                    case "--home" -> homeArg = v;
                    default -> transportPort = v;
                }
            } else {
                System.err.println("usage: EastwatchTestNode [--port N] [--home DIR] [--transport-port N]; unknown or incomplete: " + a);
                System.exit(2);
            }
        }
        Path home = homeArg != null ? Path.of(homeArg).toAbsolutePath() : Files.createTempDirectory("eastwatch-es-");
        Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));

        // Order matters: the ES logging factory must be installed before any ES class creates a logger,
        // then console logging at INFO without a log4j2.properties file.
        LogConfigurator.configureESLogging();
        Settings settings = settings(home, port, transportPort);
        LogConfigurator.configureWithoutConfig(settings);

        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "eastwatch-es");
        EastwatchTestNode node = new EastwatchTestNode(environment, CLASSPATH_PLUGINS);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                if (node.awaitClose(30, TimeUnit.SECONDS) == false) {
                    System.err.println("eastwatch-es: node did not close within 30s");
                }
                System.out.println("eastwatch-es: stopped");
            } catch (Exception e) {
                System.err.println("eastwatch-es: error while stopping: " + e);
            } finally {
                stopped.countDown();
            }
        }, "eastwatch-es-shutdown"));

        node.start();
        int bound = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        System.out.println("eastwatch-es: started on http://127.0.0.1:" + bound + " (home " + home + ", java " + Runtime.version() + ")");
        System.out.flush();
        stopped.await();
    }
}
