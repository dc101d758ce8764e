// Microphone access, explained before the browser asks.
//
// The dialog says why we need the mic and what the browser is about to show; only "Continue"
// calls getUserMedia, so the browser's own prompt never appears out of the blue. "Music mode"
// turns the browser's voice processing off (echo cancellation, noise suppression, automatic
// gain): better for instruments and test tones, and meant for headphones.

export class MicError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Ask for the microphone. Resolves with {track, musicMode}; rejects with a MicError whose
 * message is for people (`cancelled` when they closed the dialog).
 * @param {HTMLDialogElement} dialog the #mic-dialog of room.html
 */
export function micRequest(dialog) {
  return new Promise((resolve, reject) => {
    const form = dialog.querySelector("form");
    const music = dialog.querySelector("[name=music_mode]");
    const onClose = async () => {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "continue") {
        reject(new MicError("cancelled", "Your microphone stays off. Unmute when you want to speak."));
        return;
      }
      const musicMode = !!(music && music.checked);
      try {
        resolve({ track: await micOpen({ musicMode }), musicMode });
      } catch (err) {
        reject(err);
      }
    };
    dialog.addEventListener("close", onClose);
    if (form) form.reset();
    dialog.returnValue = "";
    dialog.showModal();
  });
}

export async function micOpen({ musicMode = false } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new MicError(
      "unsupported",
      "This browser cannot use a microphone here (a secure https:// page is required).",
    );
  }
  const processing = !musicMode;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        echoCancellation: processing,
        noiseSuppression: processing,
        autoGainControl: processing,
        channelCount: 1,
      },
      video: false,
    });
    return stream.getAudioTracks()[0];
  } catch (err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new MicError(
        "denied",
        "Microphone access is blocked. Allow it in the browser's site settings (the icon left of the address), then try again.",
      );
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      throw new MicError("no_device", "No microphone was found. Plug one in and try again.");
    }
    if (name === "NotReadableError") {
      throw new MicError(
        "busy",
        "The microphone is in use by another app or could not be started.",
      );
    }
    throw new MicError("failed", `The microphone could not be opened (${name || "unknown error"}).`);
  }
}
