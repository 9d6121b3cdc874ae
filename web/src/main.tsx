import { render } from 'solid-js/web';
import './styles.css';
import { App } from './ui/App';
import { Receive } from './ui/Receive';
import { initTheme } from './ui/theme';

initTheme();
const root = document.getElementById('root')!;
const isReceive = /^\/s\/[0-9a-f]{32}\/?$/.test(location.pathname);
render(() => (isReceive ? <Receive /> : <App />), root);
