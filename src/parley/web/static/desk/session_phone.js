// The page's phone for its web session, shared by the desk and the supervisor console: the
// browser softphone registered with the session's credentials, its state in #phone-state; or,
// when the user chose a desk phone at sign-in, that phone named there instead.

import { Softphone } from "../phone/softphone.js";
import { byId, reason, request, say } from "./page.js";

/** @typedef {import("../phone/softphone.js").CallDetail} CallDetail */
/** @typedef {import("../phone/softphone.js").RegistrationDetail} RegistrationDetail */
/** @typedef {import("../phone/softphone.js").Credentials} Credentials */

/**
 * The session's browser phone, not started yet (null for a desk phone).
 * @param {{phone: string, device: string, jssip: string}} config  the page's #desk-config
 * @param {(call: CallDetail) => void} onCall  every change of a call on this phone
 * @returns {Promise<Softphone | null>}
 */
export async function sessionPhone(config, onCall) {
  if (config.phone !== "browser") {
    byId("phone-state").textContent = say("phone.desk", { device: config.device });
    return null;
  }
  /** @type {typeof import("jssip")} */
  const JsSIP = (await import(config.jssip)).default;
  const audio = byId("remote-audio");
  if (!(audio instanceof HTMLAudioElement)) throw new Error("#remote-audio is not audio");
  const phone = new Softphone({
    JsSIP, audio,
    credentials: async () => {
      const response = await request("/api/phone/credentials", { method: "POST" });
      if (!response.ok) throw new Error(await reason(response));
      return /** @type {Credentials} */ (await response.json());
    },
  });
  phone.addEventListener("registration", (event) => {
    const detail = /** @type {CustomEvent<RegistrationDetail>} */ (event).detail;
    const text = say(`phone.${detail.state}`);
    byId("phone-state").textContent = detail.cause ? `${text} (${detail.cause})` : text;
    document.body.dataset.phone = detail.state;
  });
  phone.addEventListener("call", (event) => {
    onCall(/** @type {CustomEvent<CallDetail>} */ (event).detail);
  });
  return phone;
}
