import type { MouseEvent, ReactNode } from 'react';
import { navigate } from './lib/router';

/** An in-app link: a real href (open in a new tab works) that navigates without a reload. */
export function Link(props: {
  to: string;
  params?: Record<string, string | undefined | null>;
  children: ReactNode;
  className?: string;
  'aria-current'?: 'page';
  testId?: string;
}) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(props.params ?? {})) if (v) sp.set(k, v);
  const href = sp.toString() ? `${props.to}?${sp}` : props.to;
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.to, props.params);
  };
  return (
    <a href={href} onClick={onClick} className={props.className} aria-current={props['aria-current']} data-testid={props.testId}>
      {props.children}
    </a>
  );
}
