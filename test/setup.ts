import '../lib/local/polyfills';
