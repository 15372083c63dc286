// @module console/login
// The login prompt: shown when the daemon answers 401 (no token, or a wrong one). It asks
// for the control token and hands it to `onToken`; the console's data is gone meanwhile.

export class Login {
  constructor(doc, onToken) {
    this.section = doc.getElementById("login");
    this.error = doc.getElementById("login-error");
    this.input = doc.getElementById("token");
    doc.getElementById("login-form").addEventListener("submit", (e) => {
      e.preventDefault(); // CSP form-action 'none': the token is never submitted as a form
      const token = this.input.value.trim();
      this.input.value = "";
      if (token) onToken(token);
    });
  }

  show(message) {
    this.section.hidden = false;
    this.error.hidden = !message;
    this.error.textContent = message ?? "";
    this.input.focus();
  }

  hide() {
    this.section.hidden = true;
  }
}
