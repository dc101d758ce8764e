// "Start a room" (templates/web/room_new.html): the room form, for a club when ?club= names one.
import { roomForm } from "../room_form.js";

const box = document.querySelector("[data-room-form]");
const params = new URLSearchParams(location.search);
box.replaceChildren(await roomForm({ clubSlug: params.get("club") }));
box.querySelector("input[name=title]").focus();
