package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.spi.SPIClassIterator;

import java.lang.reflect.Constructor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A plugins service that loads plugin classes straight from the application classpath.
 *
 * Why it exists: the published server jar expects plugins and modules to be laid out as bundles
 * under path.home (each with its own class loader / module layer), which only the distribution
 * tarball provides. Here every jar is on one flat classpath, so we instantiate the plugin classes
 * ourselves, the way the test framework's MockPluginsService does (we cannot depend on the test
 * framework: it is not published, and its bootstrap refuses to run as root).
 *
 * It lives in org.elasticsearch.plugins because LoadedPlugin, loadPlugin(), loadExtensions(),
 * createExtension() and the PluginsLoader constructor are package-private.
 */
public class EastwatchClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;

    public EastwatchClasspathPluginsService(Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        // An empty loader: no bundles on disk, the super constructor then loads nothing itself.
        super(
            environment.settings(),
            environment.configDir(),
            new PluginsLoader(Collections.emptySet(), Collections.emptySet(), Collections.emptyMap())
        );
        Settings settings = environment.settings();
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin plugin = loadPlugin(pluginClass, settings, environment.configDir());
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin (eastwatch test node)",
                "NA",
                Build.current().version(),
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),
                null,
                Collections.emptyList(),
                false,
                false,
                false,
                false
            );
            loaded.add(new LoadedPlugin(descriptor, plugin, EastwatchClasspathPluginsService.class.getClassLoader()));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected final List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(classpathPlugins.stream().map(LoadedPlugin::descriptor).map(PluginRuntimeInfo::new).toList(), List.of());
    }

    /**
     * All plugins share the application class loader, so the SPI iterator sees every provider on the
     * classpath for every plugin. Keep one instance per provider class and skip providers whose
     * one-argument constructor wants a different plugin type (they belong to another plugin).
     */
    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
        Map<Class<?>, T> result = new LinkedHashMap<>();
        for (LoadedPlugin loadedPlugin : plugins()) {
            Plugin plugin = loadedPlugin.instance();
            Iterator<Class<? extends T>> classes = SPIClassIterator.get(service, plugin.getClass().getClassLoader());
            while (classes.hasNext()) {
                Class<? extends T> providerClass = classes.next();
                if (result.containsKey(providerClass) || belongsToAnotherPlugin(providerClass, plugin)) {
                    continue;
                }
                result.put(providerClass, createExtension(providerClass, service, plugin));
            }
        }
        return List.copyOf(result.values());
    }

    private static boolean belongsToAnotherPlugin(Class<?> providerClass, Plugin plugin) {
        for (Constructor<?> constructor : providerClass.getConstructors()) {
            if (constructor.getParameterCount() == 1 && constructor.getParameterTypes()[0] != plugin.getClass()) {
                return true;
            }
        }
        return false;
    }
}
