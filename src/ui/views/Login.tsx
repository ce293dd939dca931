/** Paste an API key; it is checked with GET /whoami and kept in sessionStorage only. */
import { useState, type FormEvent } from 'react';
import { ApiError, apiGet, storeKey, type Whoami } from '../lib/api';

export function Login(props: { onLogin: (w: Whoami) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Paste an API key (ew_...) first.');
      return;
    }
    setBusy(true);
    setError(null);
    storeKey(k);
    try {
      props.onLogin(await apiGet<Whoami>('/whoami'));
    } catch (err) {
      storeKey(null);
      setError(err instanceof ApiError ? err.message : `The service could not be reached: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <h1>eastwatch</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="ew_..."
          aria-describedby="login-help"
          // biome-ignore lint/a11y/noAutofocus: this screen is nothing but the key form (the login gate, and where logging out lands); the key is its one input, and its label and help are read with it.
          autoFocus
        />
        <p id="login-help" className="hint">
          Create one with <code>eastwatch keys create --name NAME --role analyst</code>. It stays in this tab only (session storage).
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
