import { DemoApp } from './app.js'
import { installTestHook } from './testHook.js'

const root = document.getElementById('app')
if (!root) throw new Error('index.html has no #app element')
const app = new DemoApp(root)
installTestHook(app)
void app.openFromHash()
