// The script preview page (/desk/script-preview/{name}): the script form on its own.
import { ScriptForm } from "./script_form.js";

const form = document.getElementById("script-form");
if (form instanceof HTMLFormElement) new ScriptForm(form);
