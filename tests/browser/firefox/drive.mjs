// Drives Debian's firefox-esr over WebDriver BiDi (puppeteer-core in Firefox mode; no browser
// download) for tests/browser/test_firefox.py. One room page, as a listener or as a speaker with
// Firefox's fake microphone (a tone), then answers the test's commands, one JSON line each way:
//   {"cmd": "inbound"} / {"cmd": "outbound"} / {"cmd": "state"} -> the page's figures
//   end of input -> Firefox closes and the script exits.
// argv[2]: {"baseUrl", "cookie": {"name", "value"}, "roomId", "role": "listen" | "speak",
//           "executable", "timeoutMs"}
import readline from "node:readline";
import puppeteer from "puppeteer-core";

const options = JSON.parse(process.argv[2]);
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: options.executable,
  headless: true,
  extraPrefsFirefox: {
    // A fake microphone (Firefox's own generated tone) and no permission prompt.
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    // Audio may play without a gesture (the page's own "Tap to listen" is still clicked).
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    // Nothing reaches out to Mozilla's services from the test machine.
    "app.update.enabled": false,
    "browser.shell.checkDefaultBrowser": false,
    "datareporting.policy.dataSubmissionEnabled": false,
    "toolkit.telemetry.enabled": false,
    "network.captive-portal-service.enabled": false,
    "network.connectivity-service.enabled": false,
  },
});

let page = null;
const errors = [];
const consoleLines = [];

async function main() {
  page = await browser.newPage();
  page.setDefaultTimeout(options.timeoutMs);
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  // The session cookie of a finished login, set on the site's own origin.
  const site = new URL(options.baseUrl);
  await page.goto(`${options.baseUrl}/healthz`);
  await page.setCookie({ ...options.cookie, domain: site.hostname, path: "/" });
  await page.goto(`${options.baseUrl}/rooms/${options.roomId}/`);
  await page.waitForSelector("#room[data-state='live']");
  if (options.role === "speak") {
    // On stage: the mic explainer; music mode (no voice processing), then continue.
    await page.waitForSelector("#mic-dialog", { visible: true });
    await page.click("#mic-dialog input[name=music_mode]");
    await page.click("#mic-continue");
    await page.waitForFunction(() => window.clubhouseRoom.audio.micTrack !== null);
  } else {
    const button = await page.waitForSelector("::-p-text(Tap to listen)", { visible: true });
    await button.click();
  }
  await page.waitForSelector("#room[data-audio='connected']");
  const version = await browser.version();
  say({ ready: true, version, errors });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const { cmd } = JSON.parse(line);
    if (cmd === "inbound") {
      say(await page.evaluate(() => window.clubhouseRoom.audio.inboundStats()));
    } else if (cmd === "outbound") {
      say(await page.evaluate(() => window.clubhouseRoom.audio.outboundStats()));
    } else if (cmd === "state") {
      say(await page.evaluate(() => ({
        audio: document.getElementById("room").dataset.audio,
        pc: window.clubhouseRoom.audio.pc && window.clubhouseRoom.audio.pc.connectionState,
      })));
    } else {
      say({ error: `unknown command ${cmd}` });
    }
  }
}

try {
  await main();
} catch (error) {
  let where = null;
  try {
    where = page && {
      url: page.url(),
      text: (await page.evaluate(() => document.body.innerText)).slice(0, 1500),
      room: await page.evaluate(() => {
        const room = document.getElementById("room");
        return room ? { ...room.dataset } : null;
      }),
    };
  } catch (inner) {
    where = String(inner);
  }
  say({ error: String(error && error.stack ? error.stack : error), where, errors,
        console: consoleLines.slice(-30) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
