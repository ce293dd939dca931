/** The shell: the login gate, the navigation, and the view for the current path. */
import { lazy, type ReactNode, Suspense, useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { apiGet, authEvents, storedKey, storeKey, type Whoami } from './lib/api';
import { navigate, useRoute } from './lib/router';
import { getZone, setZone, subscribeZone } from './lib/zone';
import { Link } from './Link';
import { Login } from './views/Login';
import { Upload } from './views/Upload';
import { Connections } from './views/Connections';
import { Alerts } from './views/Alerts';
import { Jobs } from './views/Jobs';
import { Policies } from './views/Policies';
import { Inventory } from './views/Inventory';
import { SessionView } from './views/Session';

// Cytoscape is most of the bundle: load it with the map only.
const ServiceMap = lazy(() => import('./views/ServiceMap').then((m) => ({ default: m.ServiceMap })));

const VIEWS = [
  { path: '/upload', label: 'Upload' },
  { path: '/connections', label: 'Connections' },
  { path: '/map', label: 'Service map' },
  { path: '/alerts', label: 'Alerts' },
  { path: '/policies', label: 'Policies' },
  { path: '/inventory', label: 'Inventory' },
  { path: '/jobs', label: 'Jobs & sources' },
];

/** Views whose from/to come from the URL: moving between them keeps the range. */
const TIMED = new Set(['/connections', '/map', '/alerts']);

export function App() {
  const route = useRoute();
  const [who, setWho] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const zone = useSyncExternalStore(subscribeZone, getZone);

  useEffect(() => {
    if (!storedKey()) return;
    apiGet<Whoami>('/whoami')
      .then(setWho, () => storeKey(null))
      .finally(() => setChecking(false));
  }, []);

  const logout = useCallback(() => {
    storeKey(null);
    setWho(null);
  }, []);

  useEffect(() => {
    authEvents.addEventListener('unauthorized', logout);
    return () => authEvents.removeEventListener('unauthorized', logout);
  }, [logout]);

  useEffect(() => {
    if (route.path === '/' || route.path === '/index.html') navigate('/connections', {}, true);
  }, [route.path]);

  if (checking)
    return (
      <p className="loading" role="status">
        Checking the stored key…
      </p>
    );
  if (!who) return <Login onLogin={setWho} />;

  const view = VIEWS.find((v) => route.path === v.path);
  let body: ReactNode;
  switch (route.path) {
    case '/upload':
      body = <Upload />;
      break;
    case '/map':
      body = <ServiceMap params={route.params} />;
      break;
    case '/policies':
      body = <Policies params={route.params} />;
      break;
    case '/alerts':
      body = <Alerts params={route.params} />;
      break;
    case '/inventory':
      body = <Inventory role={who.key.role} />;
      break;
    case '/jobs':
      body = <Jobs />;
      break;
    case '/connections':
      body = <Connections params={route.params} />;
      break;
    case '/session':
      body = <SessionView params={route.params} />;
      break;
    default:
      body = <p role="alert">There is no page {route.path}. Pick a view above.</p>;
  }
  return (
    <div className="app">
      <header className="top">
        <span className="brand">eastwatch</span>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map((v) => (
              <li key={v.path}>
                <Link
                  to={v.path}
                  params={TIMED.has(v.path) && TIMED.has(route.path) ? { from: route.params.get('from'), to: route.params.get('to') } : undefined}
                  aria-current={view?.path === v.path ? 'page' : undefined}
                >
                  {v.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <label className="zone">
          Times{' '}
          <select value={zone} onChange={(e) => setZone(e.target.value === 'local' ? 'local' : 'utc')} data-testid="zone">
            <option value="utc">UTC</option>
            <option value="local">Local time</option>
          </select>
        </label>
        <span className="who" data-testid="whoami">
          {who.key.name} ({who.key.role})
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      {/* Remounted when the clock changes: every formatted time, header and chart axis follows it. */}
      <main id="main" key={zone}>
        <Suspense fallback={<p role="status">Loading…</p>}>{body}</Suspense>
      </main>
    </div>
  );
}
