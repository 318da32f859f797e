/** Which proxy a URL goes through: the environment variable rules of src/net/proxy.ts. */
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import { configuredProxies, proxyFor } from '../../src/net/proxy.ts';

const via = (url: string, env: Record<string, string>) => proxyFor(url, env)?.display ?? null;

describe('proxy selection from the environment', () => {
  it('http URLs use http_proxy/HTTP_PROXY, https URLs https_proxy/HTTPS_PROXY, lowercase first', () => {
    const env = {
      HTTP_PROXY: 'http://up:1',
      http_proxy: 'http://low:2',
      HTTPS_PROXY: 'http://s:3',
    };
    expect(via('http://repo.example/x', env)).toBe('http://low:2');
    expect(proxyFor('http://repo.example/x', env)?.variable).toBe('http_proxy');
    expect(via('https://repo.example/x', env)).toBe('http://s:3');
    expect(via('http://repo.example/x', { HTTP_PROXY: 'http://up:1' })).toBe('http://up:1');
  });

  it('an https URL does not fall back to the http proxy (as curl), and nothing set means direct', () => {
    expect(via('https://repo.example/x', { http_proxy: 'http://p:1' })).toBeNull();
    expect(via('http://repo.example/x', {})).toBeNull();
    expect(via('http://repo.example/x', { http_proxy: '  ' })).toBeNull();
  });

  it('NO_PROXY: names with their subdomains, leading dot, *.name, ports, IPs, * and separators', () => {
    const p = { http_proxy: 'http://p:1', https_proxy: 'http://p:1' };
    const cases: [string, string, boolean][] = [
      ['example.com', 'http://example.com/', false],
      ['example.com', 'http://a.b.example.com/', false],
      ['example.com', 'http://notexample.com/', true],
      ['.example.com', 'http://example.com/', false],
      ['*.example.com', 'http://example.com/', true],
      ['*.example.com', 'http://a.example.com/', false],
      ['example.com:8080', 'http://example.com:8080/', false],
      ['example.com:8080', 'http://example.com/', true],
      ['example.com:443', 'https://example.com/', false],
      ['127.0.0.1', 'http://127.0.0.1:9/', false],
      ['127.0.0.1', 'http://127.0.0.10:9/', true],
      ['[::1]:9', 'http://[::1]:9/', false],
      ['*', 'https://anything.example/', false],
      ['other.org  EXAMPLE.COM', 'http://Example.com./', false],
      ['other.org,,example.com', 'http://example.com/', false],
    ];
    for (const [noProxy, url, proxied] of cases) {
      expect(via(url, { ...p, NO_PROXY: noProxy }) !== null, `${noProxy} vs ${url}`).toBe(proxied);
    }
    expect(via('http://example.com/', { ...p, no_proxy: 'x.org', NO_PROXY: 'example.com' })).toBe(
      'http://p:1',
    );
  });

  it('a proxy without a scheme is http://; credentials are kept for the proxy, never shown', () => {
    const choice = proxyFor('http://r/', { http_proxy: 'user:s3cret@proxy.corp:3128' });
    expect(choice?.uri).toBe('http://user:s3cret@proxy.corp:3128/');
    expect(choice?.display).toBe('http://proxy.corp:3128');
  });

  it('a value that is not an http(s) proxy URL is CONFIG, naming the variable', () => {
    for (const value of ['ftp://p:21', 'socks5://p:1080', 'http://']) {
      let err: unknown;
      try {
        configuredProxies({ HTTPS_PROXY: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).code).toBe('CONFIG');
      expect((err as AgentError).message).toContain('HTTPS_PROXY');
    }
  });
});
